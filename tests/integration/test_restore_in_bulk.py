"""A worker that lost its data directory restores a long changelog through the bulk path (tables/bulk_restore.py).

Rows are written straight to the interviews changelog, as a worker writes them (UTF-8 key, the
row's JSON, the key's murmur2 partition), enough for every partition to be past BULK_THRESHOLD;
one key is overwritten later and one deleted by a tombstone. The restarted worker must log the
bulk restore and serve exactly the last version of every row, with the deleted one gone.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from conftest import ADMIN_KEY, Workers

from app.partitioning import partition_for
from tables.bulk_restore import BULK_THRESHOLD
from tables.interview import Interview

pytestmark = pytest.mark.integration

PARTITIONS = 3
ROWS = PARTITIONS * BULK_THRESHOLD + 1_500


def _row(interview_id: str, version: int) -> bytes:
    row = Interview.create(
        interview_id=interview_id,
        tenant_id="acme",
        run_id=f"run-{interview_id}",
        event_id=f"ev-{interview_id}",
        actor="test",
        at="2026-01-01T00:00:00.000Z",
    )
    row.version = version
    return row.model_dump_json(by_alias=True).encode()


async def _read_row(session: aiohttp.ClientSession, base_url: str, interview_id: str) -> tuple[int, dict[str, object]]:
    async with session.get(f"{base_url}/api/v1/admin/rows/{interview_id}", headers={"X-API-Key": ADMIN_KEY}) as got:
        return got.status, await got.json()


async def test_lost_data_dir_is_rebuilt_in_bulk_with_last_writes_and_tombstones(
    bootstrap: str, tenants_file: Path, tmp_path: Path
) -> None:
    pool = Workers(bootstrap, tenants_file, tmp_path)
    try:
        first = await pool.start("bulk")
        changelog = f"{pool.group_id}-interviews-changelog"
        prefix = f"bulk-{uuid.uuid4().hex[:6]}"
        keys = [f"{prefix}-{i}" for i in range(ROWS)]
        overwritten, deleted = keys[7], keys[11]
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1024 * 1024)
        await producer.start()
        try:
            sends = [
                await producer.send(
                    changelog, key=key.encode(), value=_row(key, 1), partition=partition_for(key, PARTITIONS)
                )
                for key in keys
            ]
            sends.append(
                await producer.send(
                    changelog,
                    key=overwritten.encode(),
                    value=_row(overwritten, 5),
                    partition=partition_for(overwritten, PARTITIONS),
                )
            )
            sends.append(
                await producer.send(
                    changelog, key=deleted.encode(), value=None, partition=partition_for(deleted, PARTITIONS)
                )
            )
            for sent in sends:
                await sent
        finally:
            await producer.stop()
        pool.stop(first)
        shutil.rmtree(tmp_path / "bulk")

        second = await pool.start("bulk")
        restored = sum(int(n) for n in re.findall(r"bulk-restored (\d+) changelog records", second.log()))
        assert restored >= ROWS + 2, f"the bulk path restored {restored} records:\n{second.log()[-3000:]}"
        async with aiohttp.ClientSession() as session:
            for key in (keys[0], keys[ROWS // 2], keys[-1]):
                status, row = await _read_row(session, second.base_url, key)
                assert (status, row["interviewId"], row["version"]) == (200, key, 1)
            status, row = await _read_row(session, second.base_url, overwritten)
            assert (status, row["version"]) == (200, 5)
            status, _ = await _read_row(session, second.base_url, deleted)
            assert status == 404
    finally:
        pool.stop_all()
