"""The lag monitor never raises: an unreachable broker is an ERR report, and a closed monitor stays closed."""

from __future__ import annotations

import socket

from app.lag_monitor import LagMonitor, describe
from domain.lag import LagStatus


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_broker_makes_the_own_group_err_and_nothing_raises() -> None:
    monitor = LagMonitor(f"127.0.0.1:{closed_port()}", "own", "test", window_samples=3, poll_seconds=1.0)
    assert monitor.latest().polled_at is None and monitor.latest().groups == []

    report = await monitor.poll()

    assert report.error is not None and "broker not reachable" in report.error
    assert [(g.group, g.own, g.status) for g in report.groups] == [("own", True, LagStatus.ERR)]
    assert report.polled_at is not None
    assert monitor.latest() == report
    assert monitor._admin is None and monitor._consumer is None  # failed clients are not kept

    await monitor.close()
    assert await monitor.poll() == report  # closed: no new clients, the last report stands
    await monitor.close()


def test_describe_names_the_error_once() -> None:
    assert describe(ValueError("bad")) == "ValueError: bad"
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(ValueError("ValueError: bad")) == "ValueError: bad"
