"""The dashboard in a real browser: headless Debian Chromium, driven over the DevTools protocol."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from conftest import ADMIN_KEY, ARTIFACTS, COMPLETE_REQUEST, Api, Worker, free_port


class Browser:
    """One page of a headless Chromium, and the DevTools calls the test needs."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        async for message in self.ws:
            reply = json.loads(message.data)
            if reply.get("id") == call_id:
                assert "error" not in reply, reply
                return reply["result"]  # type: ignore[no-any-return]
        raise AssertionError("browser closed the DevTools connection")

    async def text(self, selector: str) -> str | None:
        result = await self.call(
            "Runtime.evaluate", expression=f"document.querySelector({json.dumps(selector)})?.textContent ?? null"
        )
        value = result["result"].get("value")
        return None if value is None else str(value)

    async def wait_text(self, selector: str, check: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        value: str | None = None
        while time.monotonic() < deadline:
            value = await self.text(selector)
            if value is not None and check(value):
                return value
            await asyncio.sleep(0.25)
        raise AssertionError(f"{selector} never passed the check; last {value!r}")


@pytest.fixture
async def browser(http: aiohttp.ClientSession) -> AsyncIterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "Debian chromium is installed by `make test` (make test-deps)"
    port = free_port()
    profile = tempfile.mkdtemp(prefix="dashboard-chromium-")
    process = subprocess.Popen(
        [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1400,1000",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        targets: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not targets:
            try:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                    targets = [t for t in await response.json() if t["type"] == "page"]
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)
        assert targets, "chromium did not open a page"
        async with http.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024) as ws:
            yield Browser(ws)
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


async def test_dashboard_is_live_in_a_browser(
    browser: Browser, worker: Worker, api_for: Callable[[str], Api], http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{worker.base_url}/api/v1/admin/streams/token", headers={"X-API-Key": ADMIN_KEY}) as response:
        assert response.status == 200
        grant = await response.json()
    async with http.post(f"{worker.base_url}/api/v1/admin/streams/token", headers={"X-API-Key": "wrong"}) as response:
        assert response.status == 401

    await browser.call("Page.enable")
    await browser.call("Page.navigate", url=worker.base_url + grant["dashboard"])
    await browser.wait_text("#status", lambda s: s == "live")
    before = int(await browser.wait_text("#events-total", str.isdigit))
    pending_before = int(await browser.wait_text("#state-PENDING", str.isdigit))

    api = api_for("acme")
    for _ in range(3):
        status, accepted = await api.call("POST", "/api/v1/interviews", json=COMPLETE_REQUEST)
        assert status == 202
        await api.wait_state(accepted["interviewId"], "PENDING")

    await browser.wait_text("#events-total", lambda s: s.isdigit() and int(s) >= before + 9)  # 3 x 3 steps at least
    await browser.wait_text("#state-PENDING", lambda s: s.isdigit() and int(s) >= pending_before + 3)
    groups = await browser.wait_text("#groups", lambda s: "interview-streams-test" in s)
    assert "OK" in groups or "WARN" in groups or "STALL" in groups or "STOP" in groups

    shot = await browser.call("Page.captureScreenshot", format="png")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "dashboard.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.stat().st_size > 10_000
