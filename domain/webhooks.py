"""Webhooks (SPEC section 5): the body, the signature, which addresses may be called, backoff."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
from collections.abc import Mapping
from enum import StrEnum
from urllib.parse import urlsplit

import orjson

from models.base import WireModel
from tables.state_machine import State, Trigger


class WebhookEvent(StrEnum):
    INFO_NEEDED = "interview.info_needed"
    INFO_COMPLETED = "interview.info_completed"
    PLAN_GENERATED = "interview.plan_generated"
    APPROVED = "interview.approved"
    REJECTED = "interview.rejected"
    COMPLETED = "interview.completed"
    ASSESSMENT_PENDING = "interview.assessment_pending"
    ASSESSMENT_APPROVED = "interview.assessment_approved"
    ASSESSMENT_REJECTED = "interview.assessment_rejected"
    CANCELLED = "interview.cancelled"


# The webhook a transition produces, by the trigger that caused it. Info-needed and
# info-completed webhooks are sent by the notifications agent from their topics instead.
WEBHOOK_FOR_TRIGGER: dict[Trigger, WebhookEvent] = {
    Trigger.PLAN_GENERATED: WebhookEvent.PLAN_GENERATED,
    Trigger.PLAN_AUTO_APPROVED: WebhookEvent.PLAN_GENERATED,
    Trigger.PLAN_APPROVED: WebhookEvent.APPROVED,
    Trigger.PLAN_REJECTED: WebhookEvent.REJECTED,
    Trigger.PLAN_REJECTED_RETRY: WebhookEvent.REJECTED,
    Trigger.INTERVIEW_COMPLETED: WebhookEvent.COMPLETED,
    Trigger.ASSESSMENT_COMPLETED: WebhookEvent.ASSESSMENT_PENDING,
    Trigger.ASSESSMENT_APPROVED: WebhookEvent.ASSESSMENT_APPROVED,
    Trigger.ASSESSMENT_REJECTED: WebhookEvent.ASSESSMENT_REJECTED,
    Trigger.CANCEL: WebhookEvent.CANCELLED,
}

SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
ID_HEADER = "X-Webhook-Id"


class WebhookDelivery(WireModel):
    """One webhook to send. ``body`` is serialised once so every retry sends the same bytes."""

    delivery_id: str
    tenant_id: str
    interview_id: str
    event: WebhookEvent
    url: str | None
    body: str
    created_at: str
    # Position among this interview's webhooks (1, 2, ...); None for deliveries outside that order.
    sequence: int | None = None


def webhook_body(
    *,
    event: WebhookEvent,
    delivery_id: str,
    run_id: str,
    interview_id: str,
    tenant_id: str,
    candidate_ref: str | None,
    state: State,
    timestamp: str,
    data: dict[str, object],
) -> str:
    return orjson.dumps(
        {
            "event": event,
            "deliveryId": delivery_id,
            "runId": run_id,
            "interviewId": interview_id,
            "tenantId": tenant_id,
            "candidateRef": candidate_ref,
            "state": state,
            "timestamp": timestamp,
            "data": data,
        }
    ).decode()


def signature(secret: str, unix_timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``timestamp + "." + body``."""
    mac = hmac.new(secret.encode(), f"{unix_timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, delivery_id: str, unix_timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(secret, unix_timestamp, body),
        TIMESTAMP_HEADER: str(unix_timestamp),
        ID_HEADER: delivery_id,
    }


class WebhookRejected(ValueError):
    """Why a receiver must refuse a webhook: a missing header, a stale timestamp, a bad signature."""


def _header(headers: Mapping[str, str], name: str) -> str:
    """``name`` from any header mapping: frameworks differ in how they case header names."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    raise WebhookRejected(f"missing {name} header")


def verify_webhook(
    secret: str, headers: Mapping[str, str], body: bytes, now: float, tolerance_seconds: int = 300
) -> int:
    """What a receiver does with a webhook: returns its timestamp, or raises WebhookRejected.

    The signature covers the timestamp, so a captured webhook cannot be given a fresh one; a
    timestamp more than ``tolerance_seconds`` from ``now`` (either way) is refused as a replay.
    Within the window a receiver deduplicates on X-Webhook-Id (the same on every retry).
    """
    raw_timestamp = _header(headers, TIMESTAMP_HEADER)
    given = _header(headers, SIGNATURE_HEADER)
    try:
        sent_at = int(raw_timestamp)
    except ValueError:
        raise WebhookRejected(f"{TIMESTAMP_HEADER} is not a unix timestamp: {raw_timestamp[:40]!r}") from None
    if abs(now - sent_at) > tolerance_seconds:
        raise WebhookRejected(
            f"{TIMESTAMP_HEADER} {sent_at} is {now - sent_at:+.0f}s from now, outside +-{tolerance_seconds}s"
        )
    # Bytes, so a non-ASCII header is a mismatch rather than compare_digest's TypeError.
    if not hmac.compare_digest(given.encode(), signature(secret, sent_at, body).encode()):
        raise WebhookRejected(f"{SIGNATURE_HEADER} does not match the body and timestamp")
    return sent_at


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes, *, now: float, tolerance: int = 300) -> bool:
    """verify_webhook as a yes/no."""
    try:
        verify_webhook(secret, headers, body, now, tolerance)
    except WebhookRejected:
        return False
    return True


class UrlRefused(ValueError):
    """A callback URL this worker will not call."""


def redacted_url(url: str) -> str:
    """``url`` without credentials, query or fragment: how a callback URL may appear in logs and errors."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def check_url_syntax(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UrlRefused(f"callback URL must be http(s) with a host: {redacted_url(url)!r}")


def check_callback_url(url: str, *, allow_private: bool) -> None:
    """At submit time: the syntax, and a literal address the policy refuses.

    Names are not resolved here (the answer could change before sending); every address a name
    resolves to is checked when the webhook is sent.
    """
    check_url_syntax(url)
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return
    refusal = address_refusal(host, allow_private=allow_private)
    if refusal is not None:
        raise UrlRefused(f"callback URL host {host} is a refused address ({refusal})")


# Cloud metadata services; always refused, even where private addresses are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # Linux connects 0.0.0.0 to the local host
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4): judged as that address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def address_refusal(address: str, *, allow_private: bool) -> str | None:
    """Why ``address`` may not be called (``"loopback"``, ``"metadata"``, ...), or None when it may.

    Metadata, link-local, multicast and unspecified are always refused; loopback and private
    only unless ``allow_private``; anything else that is not globally routable is refused.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    ip = _embedded_ipv4(ip) or ip
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK):
        return "unspecified"
    # Loopback first: Python also counts ::1 as reserved, and loopback is what local runs allow.
    if ip.is_loopback:
        return None if allow_private else "loopback"
    if ip.is_private:
        return None if allow_private else "private"
    if not ip.is_global or ip.is_reserved:
        return "not globally routable"
    return None


def address_allowed(address: str, *, allow_private: bool) -> bool:
    """Private, loopback, link-local (cloud metadata), multicast and reserved are refused."""
    return address_refusal(address, allow_private=allow_private) is None


def backoff_seconds(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: uniform in [c/2, c] for c = min(cap, base * 2**(attempt-1))."""
    ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
    return (rng or random).uniform(ceiling / 2, ceiling)
