"""Fault cases on the real broker: SIGKILLed workers and a lost data directory lose nothing.

The case runs its own consumer group, worker and webhook receiver (never the shared test worker) and
checks every interview against the oracle of faults_support: exact history, final state, one plan,
every webhook delivered at least once with one deliveryId, tables equal before and after a rebuild.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
from pathlib import Path

import pytest
from faults_support import Clock, Streamer, fault_receiver, fresh_pool, judge, make_seeds, record, wait_final

pytestmark = pytest.mark.faults

INTERVIEWS = 240
OFFERED_PER_SECOND = 30
KILLS = 3


async def test_sigkilled_worker_loses_nothing_and_a_lost_datadir_is_rebuilt(
    fault_bootstrap: str, tenants_file: Path, tmp_path: Path
) -> None:
    clock = Clock("crash")
    pool = await fresh_pool(fault_bootstrap, tenants_file, tmp_path)
    async with fault_receiver() as receiver:
        seeds = make_seeds("crash", INTERVIEWS, receiver.url)
        try:
            worker = await pool.start("victim")
            offering = asyncio.create_task(Streamer(fault_bootstrap, seeds, OFFERED_PER_SECOND).run())
            for _ in range(KILLS):
                await asyncio.sleep(1.5)
                pool.stop(worker, signal.SIGKILL)
                worker = await pool.start("victim")
                clock("worker SIGKILLed and restarted")
            await offering

            found = await wait_final(worker.base_url, seeds, timeout=180)
            await receiver.wait_delivered(seeds, timeout=120)
            clock("tables final, webhooks delivered")
            record("SIGKILL worker while streaming", f"{KILLS} SIGKILL", seeds, judge(seeds, found, receiver))

            # The data directory is lost: the tables come back from their changelogs, unchanged.
            pool.stop(worker)
            shutil.rmtree(pool.workdir / "victim")
            worker = await pool.start("victim")
            rebuilt = await wait_final(worker.base_url, seeds, timeout=120)
            clock("tables rebuilt from the changelogs")
            record("worker restarts without its data dir", "1 rmtree", seeds, judge(seeds, rebuilt, receiver))
            assert rebuilt == found
        finally:
            pool.stop_all()
