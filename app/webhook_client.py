"""The one place webhooks leave the worker: signed POSTs to addresses the policy allows.

The address check runs in the connector's resolver, at connect time, so a name that resolved to
a public address when the interview was created cannot be re-pointed at a private one later
(DNS rebinding): every address a name resolves to when the webhook is sent must be allowed.
Errors name the URL without its credentials or query (``redacted_url``), since they are logged
and dead-lettered and a callback URL may carry a receiver's token.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from domain.webhooks import (
    UrlRefused,
    WebhookDelivery,
    address_refusal,
    check_callback_url,
    redacted_url,
    signed_headers,
)


class PolicyResolver(AbstractResolver):
    """Resolves with ``inner`` (the system resolver by default) and refuses any disallowed answer."""

    def __init__(self, *, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        refused = [
            f"{r['host']}: {reason}"
            for r in results
            if (reason := address_refusal(r["host"], allow_private=self._allow_private)) is not None
        ]
        if refused:
            raise UrlRefused(f"{host} resolves to a refused address ({', '.join(refused)})")
        return results

    async def close(self) -> None:
        await self._inner.close()


class DeliveryFailed(Exception):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class WebhookClient:
    def __init__(
        self, *, allow_private: bool, timeout_seconds: float, resolver: AbstractResolver | None = None
    ) -> None:
        """``resolver`` replaces the system resolver under the policy (tests, custom DNS)."""
        self._allow_private = allow_private
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            policy = PolicyResolver(allow_private=self._allow_private, inner=self._resolver)
            connector = aiohttp.TCPConnector(resolver=policy, limit=100)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def deliver(self, delivery: WebhookDelivery, secret: str) -> None:
        """POST once; DeliveryFailed says whether trying again could help."""
        if delivery.url is None:
            raise DeliveryFailed("no callback URL", permanent=True)
        shown = redacted_url(delivery.url)
        try:  # aiohttp skips the resolver for IP literals: the submit-time check covers those
            check_callback_url(delivery.url, allow_private=self._allow_private)
        except UrlRefused as exc:
            raise DeliveryFailed(f"{shown} refused: {exc}", permanent=True) from None
        body = delivery.body.encode()
        headers = signed_headers(secret, delivery.delivery_id, int(time.time()), body)
        try:
            async with self._client().post(delivery.url, data=body, headers=headers, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    return
                detail = f"HTTP {response.status} from {shown}"
        except aiohttp.ClientConnectorError as exc:
            cause: Any = exc.os_error
            if isinstance(cause, UrlRefused):
                raise DeliveryFailed(f"{shown} refused: {cause}", permanent=True) from None
            # Its text names host and port only, never the path or query.
            raise DeliveryFailed(f"cannot connect to {shown}: {exc}", permanent=False) from None
        except UrlRefused as exc:
            raise DeliveryFailed(f"{shown} refused: {exc}", permanent=True) from None
        except aiohttp.InvalidURL:  # e.g. a host yarl will not take (127.1): retrying cannot help
            raise DeliveryFailed(f"{shown} is not a URL this client can call", permanent=True) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Not the exception's text: some (InvalidURL) quote the whole URL, query and all.
            raise DeliveryFailed(f"{type(exc).__name__} calling {shown}", permanent=False) from None
        raise DeliveryFailed(detail, permanent=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
