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
    WebhookRejected,
    address_allowed,
    address_refusal,
    backoff_seconds,
    check_callback_url,
    check_url_syntax,
    redacted_url,
    signature,
    signed_headers,
    verify_signature,
    verify_webhook,
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


# --- verify_webhook: what an ATS receiver imports ----------------------------------------------


def test_verify_webhook_returns_the_timestamp_of_a_genuine_webhook() -> None:
    headers = signed_headers(SECRET, "d-1", TS, BODY)
    assert verify_webhook(SECRET, headers, BODY, TS + 5) == TS


def test_verify_webhook_reads_headers_in_any_case() -> None:
    headers = {k.lower(): v for k, v in signed_headers(SECRET, "d-1", TS, BODY).items()}
    assert verify_webhook(SECRET, headers, BODY, TS) == TS
    assert verify_webhook(SECRET, {k.upper(): v for k, v in headers.items()}, BODY, TS) == TS


@pytest.mark.parametrize(
    ("secret", "headers", "body", "now", "says"),
    [
        (SECRET, signed_headers(SECRET, "d-1", TS, BODY), BODY.replace(b"d-1", b"d-9"), TS, "does not match"),
        ("wrong-secret", signed_headers(SECRET, "d-1", TS, BODY), BODY, TS, "does not match"),
        (SECRET, signed_headers(SECRET, "d-1", TS, BODY), BODY, TS + 301, "outside"),
        (SECRET, signed_headers(SECRET, "d-1", TS, BODY), BODY, TS - 301, "outside"),
        (SECRET, {"X-Webhook-Timestamp": str(TS)}, BODY, TS, "missing X-Webhook-Signature"),
        (SECRET, {"X-Webhook-Signature": signature(SECRET, TS, BODY)}, BODY, TS, "missing X-Webhook-Timestamp"),
        (
            SECRET,
            {"X-Webhook-Signature": signature(SECRET, TS, BODY), "X-Webhook-Timestamp": "soon"},
            BODY,
            TS,
            "not a unix timestamp",
        ),
        (
            SECRET,
            {"X-Webhook-Signature": "sha256=ünïcode", "X-Webhook-Timestamp": str(TS)},
            BODY,
            TS,
            "does not match",
        ),
    ],
    ids=[
        "tampered-body",
        "wrong-secret",
        "stale",
        "future",
        "no-signature",
        "no-timestamp",
        "bad-timestamp",
        "unicode",
    ],
)
def test_verify_webhook_names_why_it_refuses(
    secret: str, headers: dict[str, str], body: bytes, now: int, says: str
) -> None:
    with pytest.raises(WebhookRejected, match=says):
        verify_webhook(secret, headers, body, now)


def test_a_captured_webhook_replayed_later_is_refused_with_either_timestamp() -> None:
    captured = signed_headers(SECRET, "d-1", TS, BODY)
    assert verify_webhook(SECRET, captured, BODY, TS + 1) == TS  # delivered: fine
    later = TS + 600
    with pytest.raises(WebhookRejected, match="outside"):  # replayed as captured
        verify_webhook(SECRET, captured, BODY, later)
    with pytest.raises(WebhookRejected, match="does not match"):  # replayed with the timestamp moved
        verify_webhook(SECRET, {**captured, "X-Webhook-Timestamp": str(later)}, BODY, later)


def test_verify_webhook_tolerance_is_the_callers() -> None:
    headers = signed_headers(SECRET, "d-1", TS, BODY)
    assert verify_webhook(SECRET, headers, BODY, TS + 60, tolerance_seconds=60) == TS
    with pytest.raises(WebhookRejected):
        verify_webhook(SECRET, headers, BODY, TS + 61, tolerance_seconds=60)


def test_the_readme_receiver_snippet_agrees_with_verify_webhook() -> None:
    """The five lines an ATS may copy instead of importing the function."""
    headers = signed_headers(SECRET, "d-1", TS, BODY)
    now = TS + 10
    timestamp = headers["X-Webhook-Timestamp"]
    expected = "sha256=" + hmac.new(SECRET.encode(), f"{timestamp}.".encode() + BODY, hashlib.sha256).hexdigest()
    copied = hmac.compare_digest(headers["X-Webhook-Signature"], expected) and abs(now - int(timestamp)) <= 300
    assert copied and verify_webhook(SECRET, headers, BODY, now) == TS


# --- address policy, case by case ----------------------------------------------------------------

REFUSED_WITHOUT_ALLOW_PRIVATE = {
    "10.0.0.1": "private",
    "10.255.255.254": "private",
    "172.16.0.1": "private",
    "172.31.255.254": "private",
    "192.168.1.1": "private",
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "::1": "loopback",
    "::ffff:127.0.0.1": "loopback",
    "::ffff:192.168.0.1": "private",
    "fc00::1": "private",
    "fdff:ffff::1": "private",
    "2002:7f00:1::1": "loopback",  # 6to4 carrying 127.0.0.1
    "64:ff9b::a00:1": "private",  # NAT64 of 10.0.0.1
}
ALWAYS_REFUSED_WITH_REASON = {
    "169.254.169.254": "cloud metadata",
    "fd00:ec2::254": "cloud metadata",  # AWS's IPv6 metadata address is in fc00::/7, still refused
    "::ffff:169.254.169.254": "cloud metadata",
    "64:ff9b::a9fe:a9fe": "cloud metadata",  # NAT64 of 169.254.169.254
    "100.100.100.200": "cloud metadata",
    "169.254.1.1": "link-local",
    "fe80::1": "link-local",
    "febf::1": "link-local",
    "0.0.0.0": "unspecified",
    "0.1.2.3": "unspecified",
    "::": "unspecified",
    "100.64.0.1": "not globally routable",  # carrier-grade NAT
}


@pytest.mark.parametrize(("address", "reason"), REFUSED_WITHOUT_ALLOW_PRIVATE.items())
def test_private_and_loopback_name_their_reason(address: str, reason: str) -> None:
    assert address_refusal(address, allow_private=False) == reason
    assert address_refusal(address, allow_private=True) is None


@pytest.mark.parametrize(("address", "reason"), ALWAYS_REFUSED_WITH_REASON.items())
@pytest.mark.parametrize("allow_private", [False, True])
def test_metadata_link_local_and_unspecified_are_refused_even_when_private_is_allowed(
    address: str, reason: str, allow_private: bool
) -> None:
    assert address_refusal(address, allow_private=allow_private) == reason


@pytest.mark.parametrize("address", ["8.8.8.8", "172.32.0.1", "2606:4700:4700::1111", "::ffff:1.1.1.1"])
def test_public_addresses_have_no_refusal(address: str) -> None:
    assert address_refusal(address, allow_private=False) is None


# --- submit-time check and redaction -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://10.1.2.3/hook",
        "http://[::1]:8080/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0:80/",
    ],
)
def test_a_literal_refused_address_is_refused_at_submit(url: str) -> None:
    with pytest.raises(UrlRefused, match="refused address"):
        check_callback_url(url, allow_private=False)


def test_names_are_left_to_send_time_and_private_literals_pass_when_allowed() -> None:
    check_callback_url("http://localhost:9000/hook", allow_private=False)  # resolved when sending
    check_callback_url("https://ats.example.com/hook", allow_private=False)
    check_callback_url("http://127.0.0.1:9000/hook", allow_private=True)
    with pytest.raises(UrlRefused):
        check_callback_url("http://169.254.169.254/", allow_private=True)
    with pytest.raises(UrlRefused):
        check_callback_url("ftp://ats.example.com/", allow_private=True)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@ats.example.com:8443/hook?token=s3cret#frag", "https://ats.example.com:8443/hook"),
        ("http://ats.example.com/hook?sig=abc", "http://ats.example.com/hook"),
        ("http://[::1]:9/h?x=1", "http://[::1]:9/h"),
    ],
)
def test_redacted_url_drops_credentials_query_and_fragment(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


def test_a_refused_url_message_does_not_repeat_its_query() -> None:
    with pytest.raises(UrlRefused) as refused:
        check_url_syntax("ftp://ats.example.com/hook?token=s3cret")
    assert "s3cret" not in str(refused.value)
