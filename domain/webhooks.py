"""Webhooks (SPEC section 5): the body, the signature, which addresses may be called, backoff."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
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


def verify_signature(secret: str, headers: dict[str, str], body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does: check the HMAC and refuse stale timestamps (replays)."""
    try:
        sent_at = int(headers[TIMESTAMP_HEADER])
        given = headers[SIGNATURE_HEADER]
    except (KeyError, ValueError):
        return False
    if abs(now - sent_at) > tolerance:
        return False
    return hmac.compare_digest(given, signature(secret, sent_at, body))


class UrlRefused(ValueError):
    """A callback URL this worker will not call."""


def check_url_syntax(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UrlRefused(f"callback URL must be http(s) with a host: {url!r}")


def address_allowed(address: str, *, allow_private: bool) -> bool:
    """Private, loopback, link-local (cloud metadata), multicast and reserved are refused."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return False
    # Loopback first: Python also counts ::1 as reserved, and loopback is what local runs allow.
    if ip.is_loopback or ip.is_private:
        return allow_private
    return ip.is_global and not ip.is_reserved


def backoff_seconds(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: uniform in [c/2, c] for c = min(cap, base * 2**(attempt-1))."""
    ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
    return (rng or random).uniform(ceiling / 2, ceiling)
