"""LiveResponse.send_frames: frames reach a reading client; a client that stops reading is dropped.

A real aiohttp server on a loopback socket; the client is a bare socket, so it can stop reading.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp_sse import sse_response

from streams_web.live import LiveResponse

SEND_TIMEOUT = 0.5
Handler = Callable[[LiveResponse], Awaitable[None]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    runners: list[web.AppRunner] = []

    async def start(handle: Handler) -> int:
        async def stream(request: web.Request) -> web.StreamResponse:
            async with sse_response(request, send_timeout=SEND_TIMEOUT, response_cls=LiveResponse) as response:
                await handle(response)
            return response

        application = web.Application()
        application.router.add_get("/events", stream)
        runner = web.AppRunner(application)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for runner in runners:
        await runner.cleanup()


async def connect(port: int, *, receive_buffer: int | None = None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(b"GET /events HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    await writer.drain()
    return reader, writer


async def test_a_reading_client_gets_every_frame_in_order(serve: Callable[[Handler], Awaitable[int]]) -> None:
    async def handle(response: LiveResponse) -> None:
        for index in range(300):
            await response.send_frames(f"id: {index}\ndata: {'x' * 200}\n\n".encode())

    reader, writer = await connect(await serve(handle))
    body = await asyncio.wait_for(reader.read(), 10)
    writer.close()

    ids = [line for line in body.split(b"\r\n") if line.startswith(b"id: ")]
    assert [int(line.split(b"\n")[0][4:]) for line in ids] == list(range(300))


async def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout(
    serve: Callable[[Handler], Awaitable[int]],
) -> None:
    outcome: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    async def handle(response: LiveResponse) -> None:
        try:
            while True:  # until the socket buffers are full and a write waits
                await response.send_frames(b"data: " + b"x" * 4096 + b"\n\n")
        except BaseException as exc:
            outcome.set_result(exc)
            raise

    _, writer = await connect(await serve(handle), receive_buffer=4096)  # and never reads
    dropped = await asyncio.wait_for(outcome, 30)
    writer.close()

    assert isinstance(dropped, TimeoutError)
