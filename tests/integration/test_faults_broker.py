"""Fault case: the broker goes away mid-stream (SIGTERM, then SIGKILL) and comes back.

This case runs its OWN broker (another port, another data directory; never the shared one) so it
can stop it. The worker is not restarted: it must ride out both outages by itself. The test's
producer re-sends every event the broker did not confirm, same bytes and eventId, so the oracle
also proves that redelivered seeds are applied once.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from faults_support import (
    Clock,
    Streamer,
    fault_receiver,
    fresh_pool,
    judge,
    make_seeds,
    read_tables,
    record,
    wait_final,
)

from local_kafka.broker import LocalBroker

pytestmark = pytest.mark.faults

INTERVIEWS = 240
OFFERED_PER_SECOND = 30
OUTAGE_SECONDS = 2.0  # on top of the ~10 s the broker's JVM takes to start again
OUTAGES = (signal.SIGTERM, signal.SIGKILL)


async def test_broker_stopped_and_restarted_mid_stream_loses_nothing(tenants_file: Path, tmp_path: Path) -> None:
    clock = Clock("broker")
    broker = LocalBroker.on_free_ports(tmp_path / "kafka")
    await asyncio.to_thread(broker.start)
    clock(f"own broker up at {broker.bootstrap}")
    pool = await fresh_pool(broker.bootstrap, tenants_file, tmp_path / "workers")
    try:
        async with fault_receiver() as receiver:
            seeds = make_seeds("broker", INTERVIEWS, receiver.url)
            worker = await pool.start("survivor", timeout=120)
            streamer = Streamer(broker.bootstrap, seeds, OFFERED_PER_SECOND)
            offering = asyncio.create_task(streamer.run())
            for number, sig in enumerate(OUTAGES, start=1):
                while streamer.confirmed < number * INTERVIEWS // (len(OUTAGES) + 1) and not offering.done():
                    await asyncio.sleep(0.1)
                await asyncio.to_thread(broker.stop, sig)
                clock(f"broker stopped ({sig.name}) after {streamer.confirmed} confirmed sends")
                await asyncio.sleep(OUTAGE_SECONDS)
                await asyncio.to_thread(broker.start)
                clock("broker answers again")
            await offering
            clock(f"all {INTERVIEWS} seeds confirmed, {streamer.resent} sends retried")

            found = await wait_final(worker.base_url, seeds, timeout=240)
            await receiver.wait_delivered(seeds, timeout=120)
            clock("tables final, webhooks delivered")
            assert worker.process.poll() is None, f"the worker exited:\n{worker.log()[-4000:]}"
            faults = f"broker SIGTERM + SIGKILL, {streamer.resent} sends retried"
            record("broker stopped and restarted", faults, seeds, judge(seeds, found, receiver))
            assert await read_tables(worker.base_url, seeds) == found  # settled: nothing changes after
    finally:
        pool.stop_all()
        await asyncio.to_thread(broker.stop)
