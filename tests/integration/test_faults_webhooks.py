"""Fault case: the webhook receiver answers 503 for a while, then recovers.

The case has its own receiver (the seeds' callbackUrl), never the session's. While it refuses,
interviews keep streaming; once it answers again every webhook arrives, in transition order per
interview, every repeat with the same deliveryId (the workers run with a short backoff).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from faults_support import Clock, Streamer, fault_receiver, fresh_pool, judge, make_seeds, record, wait_final

pytestmark = pytest.mark.faults

INTERVIEWS = 240
OFFERED_PER_SECOND = 30
FAILING_SECONDS = 8.0  # well inside WEBHOOK_RETRY_SECONDS (60 in the test workers)


async def test_webhook_receiver_refusing_then_recovering_gets_every_webhook(
    fault_bootstrap: str, tenants_file: Path, tmp_path: Path
) -> None:
    clock = Clock("webhook")
    pool = await fresh_pool(fault_bootstrap, tenants_file, tmp_path)
    async with fault_receiver() as receiver:
        seeds = make_seeds("webhook", INTERVIEWS, receiver.url)
        try:
            worker = await pool.start("sender")
            clock("worker ready")
            streamer = Streamer(fault_bootstrap, seeds, OFFERED_PER_SECOND)
            offering = asyncio.create_task(streamer.run())
            while streamer.confirmed < INTERVIEWS // 6 and not offering.done():
                await asyncio.sleep(0.1)
            receiver.failing = True
            clock(f"receiver answers 503 (after {streamer.confirmed} seeds)")
            await asyncio.sleep(FAILING_SECONDS)
            receiver.failing = False
            clock(f"receiver answers 204 again; {receiver.refused} webhooks refused meanwhile")
            await offering

            found = await wait_final(worker.base_url, seeds, timeout=180)
            await receiver.wait_delivered(seeds, timeout=120)
            clock("tables final, webhooks delivered")
            assert receiver.refused > 0, "the receiver never refused a webhook: the fault did not happen"
            faults = f"503 for {FAILING_SECONDS:.0f}s ({receiver.refused} refused)"
            record("webhook receiver 503, then recovers", faults, seeds, judge(seeds, found, receiver))
        finally:
            receiver.failing = False
            pool.stop_all()
