"""The webhook transport against a real local HTTP server: signing on the wire, address policy.

The policy applies to what a name resolves to when the webhook is sent (DNS rebinding): a scripted
resolver stands in for DNS (aiohttp's resolver abstraction, as the worker's connector uses it).
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from app.webhook_client import DeliveryFailed, PolicyResolver, WebhookClient
from domain.webhooks import (
    UrlRefused,
    WebhookDelivery,
    WebhookEvent,
    check_callback_url,
    verify_signature,
    verify_webhook,
)

SECRET = "receiver-secret"
NAME = "hooks.ats.example"
Receiver = tuple[str, list[tuple[dict[str, str], bytes]], dict[str, int]]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    received: list[tuple[dict[str, str], bytes]] = []
    answer = {"status": 204}

    async def handle(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=answer["status"])

    application = web.Application()
    application.router.add_post("/hook", handle)
    runner = web.AppRunner(application)
    await runner.setup()
    port = _port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hook", received, answer
    await runner.cleanup()


def delivery(url: str) -> WebhookDelivery:
    return WebhookDelivery(
        delivery_id="d-1",
        tenant_id="acme",
        interview_id="iv-1",
        event=WebhookEvent.PLAN_GENERATED,
        url=url,
        body='{"event":"interview.plan_generated","deliveryId":"d-1"}',
        created_at="2024-01-15T10:01:00.000Z",
    )


async def test_delivers_signed_body_when_private_addresses_are_allowed(receiver: Receiver) -> None:
    url, received, _ = receiver
    client = WebhookClient(allow_private=True, timeout_seconds=5)
    try:
        await client.deliver(delivery(url), SECRET)
    finally:
        await client.close()
    [(headers, body)] = received
    assert body == delivery(url).body.encode()
    assert headers["X-Webhook-Id"] == "d-1"
    assert verify_signature(SECRET, headers, body, now=int(time.time()))


async def test_refuses_loopback_at_connect_time_unless_allowed(receiver: Receiver) -> None:
    url, received, _ = receiver
    client = WebhookClient(allow_private=False, timeout_seconds=5)
    try:
        with pytest.raises(DeliveryFailed) as refused:
            await client.deliver(delivery(url), SECRET)
        assert refused.value.permanent
        assert "refused address" in str(refused.value)
        # A name that resolves to loopback is refused the same way as the literal address.
        with pytest.raises(DeliveryFailed) as by_name:
            await client.deliver(delivery(url.replace("127.0.0.1", "localhost")), SECRET)
        assert by_name.value.permanent
    finally:
        await client.close()
    assert received == []


async def test_server_errors_are_retryable_and_bad_urls_are_not(receiver: Receiver) -> None:
    url, _, answer = receiver
    answer["status"] = 503
    client = WebhookClient(allow_private=True, timeout_seconds=5)
    try:
        with pytest.raises(DeliveryFailed) as unavailable:
            await client.deliver(delivery(url), SECRET)
        assert not unavailable.value.permanent and "503" in str(unavailable.value)
        with pytest.raises(DeliveryFailed) as bad_scheme:
            await client.deliver(delivery("ftp://example.com/x"), SECRET)
        assert bad_scheme.value.permanent
    finally:
        await client.close()


class ScriptedDns(AbstractResolver):
    """Answers every lookup with the next address of ``answers`` (the last one repeats)."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        address = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [{"hostname": host, "host": address, "port": port, "family": family, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        return None


async def test_a_name_that_was_public_at_submit_and_private_at_send_is_refused_at_send() -> None:
    dns = ScriptedDns("93.184.216.34", "10.0.0.7")
    policy = PolicyResolver(allow_private=False, inner=dns)
    url = f"https://{NAME}/hook"
    check_callback_url(url, allow_private=False)  # submit: a name passes (it is not resolved then)

    assert [r["host"] for r in await policy.resolve(NAME, 443)] == ["93.184.216.34"]  # public then
    with pytest.raises(UrlRefused, match=r"10\.0\.0\.7: private"):  # re-pointed since
        await policy.resolve(NAME, 443)
    assert dns.lookups == [NAME, NAME]


async def test_the_client_checks_the_address_it_is_about_to_connect_to(
    receiver: Receiver,
) -> None:
    loopback_url, received, _ = receiver
    port = urlsplit(loopback_url).port
    url = f"http://{NAME}:{port}/hook?token=receiver-token"
    # The name now resolves to the metadata address, then to loopback: both refused, nothing sent.
    for address, reason in (("169.254.169.254", "cloud metadata"), ("127.0.0.1", "loopback")):
        client = WebhookClient(allow_private=False, timeout_seconds=5, resolver=ScriptedDns(address))
        try:
            with pytest.raises(DeliveryFailed) as refused:
                await client.deliver(delivery(url), SECRET)
        finally:
            await client.close()
        assert refused.value.permanent
        assert f"{address}: {reason}" in str(refused.value)
        assert "receiver-token" not in str(refused.value)  # the URL is named without its query
    assert received == []

    # The same name and resolver with private addresses allowed reaches the receiver: the check
    # above is what stopped it, at connect time, on the address the resolver gave.
    dns = ScriptedDns("127.0.0.1")
    client = WebhookClient(allow_private=True, timeout_seconds=5, resolver=dns)
    try:
        await client.deliver(delivery(url), SECRET)
    finally:
        await client.close()
    [(headers, body)] = received
    assert dns.lookups == [NAME]
    assert verify_webhook(SECRET, headers, body, time.time()) > 0


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("0x7f.0.0.1", "resolves to a refused address (127.0.0.1: loopback)"),  # the system resolves it
        ("2130706433", "not a URL this client can call"),  # yarl refuses these outright
        ("127.1", "not a URL this client can call"),
    ],
)
async def test_other_spellings_of_loopback_are_refused_for_good(host: str, says: str, receiver: Receiver) -> None:
    """Not IP literals to Python, so the literal check does not see them; they are refused anyway."""
    loopback_url, received, _ = receiver
    port = urlsplit(loopback_url).port
    client = WebhookClient(allow_private=False, timeout_seconds=5)
    try:
        with pytest.raises(DeliveryFailed) as refused:
            await client.deliver(delivery(f"http://{host}:{port}/hook"), SECRET)
    finally:
        await client.close()
    assert refused.value.permanent and says in str(refused.value)
    assert received == []
