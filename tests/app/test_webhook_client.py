"""The webhook transport against a real local HTTP server: signing on the wire, address policy."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from app.webhook_client import DeliveryFailed, WebhookClient
from domain.webhooks import WebhookDelivery, WebhookEvent, verify_signature

SECRET = "receiver-secret"
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
