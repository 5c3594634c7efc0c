"""Answer for any key on any worker: requests about an interview go to the worker that owns it.

The owner comes from Faust's partition assignor (the same murmur2 partition as the row's
changelog partition). Faust's own ``table_route`` is not used: it drops request bodies and
buffers responses. This proxy forwards method, path, query, headers and body, and retries
briefly while a rebalance settles, so a command or read sent to any worker is answered by the
one whose table holds the row.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from faust.web import View
from yarl import URL

from app.main import app
from streams_web.http import ApiError, authenticate, read_body
from tables.faust_tables import interviews

log = logging.getLogger(__name__)

FORWARDED_HEADER = "X-Interview-Streams-Forwarded"
ROUTE_ATTEMPTS = 20
ROUTE_RETRY_SECONDS = 0.25
_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}
_session: aiohttp.ClientSession | None = None


def _ident(url: URL) -> tuple[str, int]:
    return (url.host or "", int(url.port or 80))


def owner_url(key: str, table: str = interviews.name) -> URL | None:
    """The base URL of the worker owning ``key`` in ``table``; None when it is this one, ready."""
    if app.rebalancing or not app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]
        raise ApiError(503, "the worker is rebalancing; retry shortly", retryAfterSeconds=1)
    try:
        owner: URL = app.router.key_store(table, key)
    except KeyError:
        raise ApiError(503, "partition owner not known yet; retry shortly", retryAfterSeconds=1) from None
    return None if _ident(owner) == _ident(URL(str(app.conf.canonical_url))) else owner


def http_client() -> aiohttp.ClientSession:
    """The one client session this worker uses to call the others."""
    global _session
    if _session is None or _session.closed:
        _session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    return _session


async def forward(request: web.Request, owner: URL, body: bytes | None = None) -> web.Response:
    """The owner's answer to ``request``, body and all."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
    headers[FORWARDED_HEADER] = str(app.conf.canonical_url)
    data = body if body is not None else await read_body(request)  # the same 413 as on the owner
    url = owner.with_path(request.path).with_query(request.query)
    async with http_client().request(request.method, url, headers=headers, data=data or None) as response:
        payload = await response.read()
        return web.Response(
            body=payload,
            status=response.status,
            content_type=response.content_type,
            headers={"X-Served-By": response.headers.get("X-Served-By", str(owner))},
        )


async def on_owner(
    request: web.Request,
    interview_id: str,
    local: Callable[[], Awaitable[web.StreamResponse]],
    body: bytes | None = None,
    table: str = interviews.name,
) -> web.StreamResponse:
    """Run ``local`` when this worker owns ``interview_id`` (a key of ``table``), else forward to the owner.

    A forwarded request is never forwarded again: if assignments moved meanwhile the owner
    answers 503 and the first worker tries again, until the rebalance settles.
    """
    forwarded = FORWARDED_HEADER in request.headers
    last: ApiError | None = None
    for _ in range(1 if forwarded else ROUTE_ATTEMPTS):
        try:
            owner = owner_url(interview_id, table)
            if owner is None:
                response = await local()
                response.headers["X-Served-By"] = str(app.conf.canonical_url)
                return response
            if forwarded:
                raise ApiError(503, "this worker no longer owns the interview; retry", retryAfterSeconds=1)
            answer = await forward(request, owner, body)
            if answer.status != 503:
                return answer
            last = ApiError(503, "the owning worker is rebalancing; retry shortly", retryAfterSeconds=1)
        except ApiError as exc:
            if exc.status != 503:
                raise
            last = exc
        except aiohttp.ClientError as exc:
            log.info("forwarding %s for %s failed: %s", request.path, interview_id, exc)
            last = ApiError(503, "the owning worker did not answer; retry shortly", retryAfterSeconds=1)
        await asyncio.sleep(ROUTE_RETRY_SECONDS)
    assert last is not None
    raise last


Handler = Callable[..., Awaitable[web.StreamResponse]]


def routed(handler: Handler) -> Handler:
    """For a tenant's view method taking ``interview_id``: serve it on the worker that owns the interview.

    The caller is authenticated here first, so a request without a valid key is never forwarded;
    the owner authenticates again and checks the interview is the tenant's.
    """

    @functools.wraps(handler)
    async def wrapper(self: View, request: web.Request, interview_id: str, **kwargs: Any) -> web.StreamResponse:
        authenticate(request)
        return await on_owner(request, interview_id, lambda: handler(self, request, interview_id, **kwargs))

    return wrapper


def other_peer_urls() -> list[URL]:
    """Every other worker of the group that holds interview partitions."""
    own = _ident(URL(str(app.conf.canonical_url)))
    urls = {_ident(url): url for url in (URL(host) for host in app.router.table_metadata(interviews.name))}
    return [url for ident, url in urls.items() if ident != own]


async def gather_from_peers(
    path: str, headers: dict[str, str], local: Callable[[], dict[str, Any]]
) -> list[dict[str, Any]]:
    """This worker's ``local()`` answer, and ``path`` asked of every other worker with ``scope=local``."""

    async def ask(peer: URL) -> dict[str, Any]:
        url = peer.with_path(path).with_query({"scope": "local"})
        async with http_client().get(
            url, headers={**headers, FORWARDED_HEADER: str(app.conf.canonical_url)}
        ) as response:
            if response.status != 200:
                raise ApiError(503, f"worker {peer} answered {response.status}; retry", retryAfterSeconds=1)
            answer: dict[str, Any] = await response.json()
            return answer

    try:
        return [local(), *await asyncio.gather(*(ask(peer) for peer in other_peer_urls()))]
    except aiohttp.ClientError as exc:
        raise ApiError(503, f"a worker did not answer ({exc}); retry", retryAfterSeconds=1) from None
