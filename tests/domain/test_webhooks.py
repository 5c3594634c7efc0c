"""Webhooks (SPEC section 5): signing, verification, the address policy, backoff and the body."""

from __future__ import annotations

import hashlib
import hmac
import json
import random

import pytest

from domain.webhooks import (
    UrlRefused,
    WebhookEvent,
    address_allowed,
    backoff_seconds,
    check_url_syntax,
    signature,
    signed_headers,
    verify_signature,
    webhook_body,
)
from tables.state_machine import State

SECRET = "tenant-webhook-secret"
BODY = b'{"event":"interview.plan_generated","deliveryId":"d-1"}'
TS = 1_705_312_860


def expected_signature(secret: str, ts: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()


# --- signature --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "ts", "body"),
    [
        (SECRET, TS, BODY),
        ("another-secret", 0, b""),
        ("s" * 64, 2_000_000_000, '{"name":"Zoë"}'.encode()),
        (SECRET, TS, b"not json at all"),
    ],
)
def test_signature_is_hmac_sha256_over_timestamp_dot_body(secret: str, ts: int, body: bytes) -> None:
    sig = signature(secret, ts, body)

    assert sig == expected_signature(secret, ts, body)
    assert sig.startswith("sha256=")
    assert len(sig) == len("sha256=") + 64


def test_signature_depends_on_secret_timestamp_and_body() -> None:
    base = signature(SECRET, TS, BODY)

    assert signature(SECRET + "x", TS, BODY) != base
    assert signature(SECRET, TS + 1, BODY) != base
    assert signature(SECRET, TS, BODY + b" ") != base


def test_signed_headers() -> None:
    headers = signed_headers(SECRET, "delivery-1", TS, BODY)

    assert headers["X-Webhook-Signature"] == expected_signature(SECRET, TS, BODY)
    assert headers["X-Webhook-Timestamp"] == str(TS)
    assert headers["X-Webhook-Id"] == "delivery-1"
    assert headers["Content-Type"] == "application/json"


# --- verification (what a receiver does) -------------------------------------------------------


@pytest.mark.parametrize("delay", [0, 1, 299, 300, -5, -300])
def test_verify_accepts_fresh_signature(delay: int) -> None:
    headers = signed_headers(SECRET, "d-1", TS, BODY)
    assert verify_signature(SECRET, headers, BODY, now=TS + delay)


@pytest.mark.parametrize(
    "body",
    [BODY + b" ", BODY.replace(b"d-1", b"d-2"), b"", BODY[:-1]],
    ids=["appended", "changed", "empty", "truncated"],
)
def test_verify_rejects_tampered_body(body: bytes) -> None:
    headers = signed_headers(SECRET, "d-1", TS, BODY)
    assert not verify_signature(SECRET, headers, body, now=TS)


def test_verify_rejects_wrong_secret() -> None:
    headers = signed_headers(SECRET, "d-1", TS, BODY)
    assert not verify_signature("not-the-secret", headers, BODY, now=TS)


@pytest.mark.parametrize("delay", [301, 3600, -301, -86_400])
def test_verify_rejects_stale_or_future_timestamp(delay: int) -> None:
    headers = signed_headers(SECRET, "d-1", TS, BODY)
    assert not verify_signature(SECRET, headers, BODY, now=TS + delay)


def test_verify_rejects_replay_with_a_fresh_timestamp_but_old_signature() -> None:
    headers = signed_headers(SECRET, "d-1", TS, BODY)
    later = TS + 3600
    replayed = {**headers, "X-Webhook-Timestamp": str(later)}
    assert not verify_signature(SECRET, replayed, BODY, now=later)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Webhook-Timestamp": str(TS)},
        {"X-Webhook-Signature": expected_signature(SECRET, TS, BODY)},
        {"X-Webhook-Signature": expected_signature(SECRET, TS, BODY), "X-Webhook-Timestamp": "yesterday"},
        {"X-Webhook-Signature": expected_signature(SECRET, TS, BODY)[7:], "X-Webhook-Timestamp": str(TS)},
    ],
    ids=["none", "no-signature", "no-timestamp", "bad-timestamp", "no-prefix"],
)
def test_verify_rejects_missing_or_malformed_headers(headers: dict[str, str]) -> None:
    assert not verify_signature(SECRET, headers, BODY, now=TS)


def test_verify_honours_tolerance() -> None:
    headers = signed_headers(SECRET, "d-1", TS, BODY)
    assert verify_signature(SECRET, headers, BODY, now=TS + 10, tolerance=10)
    assert not verify_signature(SECRET, headers, BODY, now=TS + 11, tolerance=10)


# --- address policy ---------------------------------------------------------------------------

PUBLIC = ["8.8.8.8", "93.184.216.34", "1.1.1.1", "172.32.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
PRIVATE_OR_LOOPBACK = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.0.1",
    "192.168.255.254",
    "::1",
    "fc00::1",
    "fd12:3456:789a::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:192.168.1.1",
]
ALWAYS_REFUSED = [
    "169.254.169.254",
    "169.254.0.1",
    "fe80::1",
    "fe80::1%eth0",
    "::ffff:169.254.169.254",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "0.0.0.0",
    "::",
]


@pytest.mark.parametrize("address", PUBLIC)
@pytest.mark.parametrize("allow_private", [False, True])
def test_public_addresses_are_allowed(address: str, allow_private: bool) -> None:
    assert address_allowed(address, allow_private=allow_private)


@pytest.mark.parametrize("address", PRIVATE_OR_LOOPBACK)
def test_private_and_loopback_refused_unless_allowed(address: str) -> None:
    assert not address_allowed(address, allow_private=False)
    assert address_allowed(address, allow_private=True)


@pytest.mark.parametrize("address", ALWAYS_REFUSED)
@pytest.mark.parametrize("allow_private", [False, True])
def test_link_local_multicast_unspecified_always_refused(address: str, allow_private: bool) -> None:
    assert not address_allowed(address, allow_private=allow_private)


def test_ipv4_mapped_loopback_is_treated_as_loopback() -> None:
    for flag in (False, True):
        assert address_allowed("::ffff:127.0.0.1", allow_private=flag) == address_allowed(
            "127.0.0.1", allow_private=flag
        )


@pytest.mark.parametrize("address", ["not-an-ip", "999.1.1.1", ""])
def test_address_that_is_not_an_ip_raises(address: str) -> None:
    with pytest.raises(ValueError):
        address_allowed(address, allow_private=True)


# --- URL syntax -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["https://ats.example.com/webhook", "http://ats.example.com:8080/hook?x=1", "http://127.0.0.1:9000/hook"],
)
def test_http_urls_with_a_host_pass(url: str) -> None:
    check_url_syntax(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://ats.example.com/hook",
        "file:///etc/passwd",
        "gopher://ats.example.com/",
        "javascript:alert(1)",
        "https:///hook",
        "http://",
        "/relative/path",
        "ats.example.com/hook",
        "",
    ],
)
def test_other_schemes_and_hostless_urls_are_refused(url: str) -> None:
    with pytest.raises(UrlRefused):
        check_url_syntax(url)


def test_url_refused_is_a_value_error() -> None:
    assert issubclass(UrlRefused, ValueError)


# --- backoff ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("attempt", range(1, 12))
def test_backoff_within_half_to_full_ceiling(seed: int, attempt: int) -> None:
    base, cap = 1.0, 60.0
    ceiling = min(cap, base * 2 ** (attempt - 1))

    delay = backoff_seconds(attempt, base=base, cap=cap, rng=random.Random(seed))

    assert ceiling / 2 <= delay <= ceiling


@pytest.mark.parametrize("attempt", [7, 10, 30, 100])
def test_backoff_is_capped(attempt: int) -> None:
    rng = random.Random(1)
    for _ in range(50):
        assert backoff_seconds(attempt, base=2.0, cap=30.0, rng=rng) <= 30.0


def test_backoff_grows_with_attempt() -> None:
    # Each ceiling is twice the last, so the [c/2, c] ranges only touch: the means grow strictly.
    def mean(attempt: int) -> float:
        rng = random.Random(42)
        return sum(backoff_seconds(attempt, base=0.5, cap=1_000.0, rng=rng) for _ in range(200)) / 200

    means = [mean(attempt) for attempt in range(1, 9)]
    assert means == sorted(means)
    assert len(set(means)) == len(means)
    # And never below the previous attempt's floor-to-ceiling range.
    for attempt in range(2, 9):
        assert backoff_seconds(attempt, base=0.5, cap=1_000.0, rng=random.Random(attempt)) >= 0.5 * 2 ** (attempt - 2)


def test_backoff_is_reproducible_with_the_same_seed() -> None:
    first = [backoff_seconds(a, base=1.0, cap=60.0, rng=random.Random(7)) for a in range(1, 8)]
    again = [backoff_seconds(a, base=1.0, cap=60.0, rng=random.Random(7)) for a in range(1, 8)]
    assert first == again


# --- body ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", list(WebhookEvent))
def test_webhook_body_has_exactly_the_contracts_keys(event: WebhookEvent) -> None:
    body = webhook_body(
        event=event,
        delivery_id="d-1",
        run_id="run_1705312860_0a1b2c3d",
        interview_id="iv-1",
        tenant_id="acme",
        candidate_ref="cand-1",
        state=State.PENDING,
        timestamp="2024-01-15T10:45:00.000Z",
        data={"planId": "plan-1", "duration": 60},
    )

    document = json.loads(body)
    assert set(document) == {
        "event",
        "deliveryId",
        "runId",
        "interviewId",
        "tenantId",
        "candidateRef",
        "state",
        "timestamp",
        "data",
    }
    assert document == {
        "event": str(event),
        "deliveryId": "d-1",
        "runId": "run_1705312860_0a1b2c3d",
        "interviewId": "iv-1",
        "tenantId": "acme",
        "candidateRef": "cand-1",
        "state": "PENDING",
        "timestamp": "2024-01-15T10:45:00.000Z",
        "data": {"planId": "plan-1", "duration": 60},
    }


def test_webhook_body_keeps_an_unknown_candidate_as_null() -> None:
    body = json.loads(
        webhook_body(
            event=WebhookEvent.CANCELLED,
            delivery_id="d-2",
            run_id="r",
            interview_id="iv-1",
            tenant_id="acme",
            candidate_ref=None,
            state=State.CANCELLED,
            timestamp="2024-01-15T10:45:00.000Z",
            data={},
        )
    )
    assert "candidateRef" in body
    assert body["candidateRef"] is None
    assert body["state"] == "CANCELLED"


def test_webhook_event_names_are_the_contracts() -> None:
    assert {str(e) for e in WebhookEvent} == {
        "interview.info_needed",
        "interview.info_completed",
        "interview.plan_generated",
        "interview.approved",
        "interview.rejected",
        "interview.completed",
        "interview.assessment_pending",
        "interview.assessment_approved",
        "interview.assessment_rejected",
        "interview.cancelled",
    }
