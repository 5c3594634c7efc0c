"""Fault case: the group grows from one worker to two and back while events flow.

Worker A streams alone, worker B joins mid-stream (a rebalance hands it partitions and their
tables), both run, then B leaves on SIGTERM mid-stream and A takes everything back. Events are
offered through every phase (a quarter of the seeds each); at the end A alone answers every read
and the oracle holds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from faults_support import Clock, Seed, Streamer, fault_receiver, fresh_pool, judge, make_seeds, record, wait_final

pytestmark = pytest.mark.faults

INTERVIEWS = 240
OFFERED_PER_SECOND = 30


async def test_growing_to_two_workers_and_back_mid_stream_loses_nothing(
    fault_bootstrap: str, tenants_file: Path, tmp_path: Path
) -> None:
    clock = Clock("scale")
    pool = await fresh_pool(fault_bootstrap, tenants_file, tmp_path)
    async with fault_receiver() as receiver:
        seeds = make_seeds("scale", INTERVIEWS, receiver.url)
        quarter = INTERVIEWS // 4
        joining, both, leaving, alone = (seeds[i * quarter : (i + 1) * quarter] for i in range(4))
        try:
            first = await pool.start("a")
            clock("worker A ready")

            async def stream(part: list[Seed]) -> None:
                await Streamer(fault_bootstrap, part, OFFERED_PER_SECOND).run()

            async def leave() -> None:  # B leaves once the third quarter is flowing
                await asyncio.sleep(1.0)
                await asyncio.to_thread(pool.stop, second)  # SIGTERM, off the loop: streaming goes on

            # B joins while A works through the first quarter.
            _, second = await asyncio.gather(stream(joining), pool.start("b"))
            clock("worker B joined (partitions assigned)")
            await stream(both)
            clock("second quarter offered to both workers")
            await asyncio.gather(stream(leaving), leave())
            clock("worker B stopped (SIGTERM) while the third quarter flowed")
            await stream(alone)
            clock("last quarter offered to A alone")

            found = await wait_final(first.base_url, seeds, timeout=180)
            await receiver.wait_delivered(seeds, timeout=120)
            clock("tables final on A, webhooks delivered")
            assert second.process.poll() is not None and first.process.poll() is None
            record("grow 1 -> 2 workers and back", "1 join + 1 SIGTERM leave", seeds, judge(seeds, found, receiver))
        finally:
            pool.stop_all()
