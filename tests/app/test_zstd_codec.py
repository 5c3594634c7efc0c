"""app/zstd_codec: aiokafka's zstd batches through reused zstandard contexts, readable by any zstd reader."""

from __future__ import annotations

import io
import threading
from typing import Any

import cramjam
import pytest
import zstandard
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from app import zstd_codec

ZSTD = 0x04  # the record batch attributes' codec id of zstd
ROW = b'{"interviewId": "iv-1", "history": [' + b'{"toState": "PENDING", "trigger": "plan_generated"},' * 40 + b"{}]}"


def batch_of(values: list[bytes]) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=ZSTD,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for offset, value in enumerate(values):
        builder.append(offset, timestamp=None, key=b"iv-1", value=value, headers=[])
    return bytes(builder.build())


def test_the_worker_has_aiokafka_build_and_read_zstd_batches_through_it() -> None:
    import app.main  # noqa: F401  # installs it, as every worker does

    for module in zstd_codec._record_modules():
        assert module.zstd_encode is zstd_codec.zstd_encode
        assert module.zstd_decode is zstd_codec.zstd_decode


def test_aiokafka_looks_the_codec_up_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """What makes install work at all: the record modules read the name when a batch is built or read."""
    calls: list[str] = []

    def encode(payload: Any, level: int | None = None) -> bytes:
        calls.append("encode")
        return zstd_codec.zstd_encode(payload, level)

    def decode(payload: Any) -> bytes:
        calls.append("decode")
        return zstd_codec.zstd_decode(payload)

    for module in zstd_codec._record_modules():
        monkeypatch.setattr(module, "zstd_encode", encode)
        monkeypatch.setattr(module, "zstd_decode", decode)

    records = list(DefaultRecordBatch(batch_of([ROW, ROW[::-1]])))

    assert [record.value for record in records] == [ROW, ROW[::-1]]
    assert calls == ["encode", "decode"]


def test_its_frames_are_plain_zstd_and_it_reads_cramjams() -> None:
    assert bytes(cramjam.zstd.decompress(zstd_codec.zstd_encode(ROW))) == ROW
    assert zstd_codec.zstd_decode(bytes(cramjam.zstd.compress(ROW, level=3))) == ROW
    assert len(zstd_codec.zstd_encode(ROW)) < len(ROW) / 4


def test_a_streamed_frame_without_its_size_and_several_frames_still_decode() -> None:
    """As Java's producer writes them (a stream, no content size in the header), and concatenated frames."""
    streamed = io.BytesIO()
    writer = zstandard.ZstdCompressor(write_content_size=False).stream_writer(streamed, closefd=False)
    writer.write(ROW)
    writer.flush(zstandard.FLUSH_FRAME)

    assert zstd_codec.zstd_decode(streamed.getvalue()) == ROW
    assert zstd_codec.zstd_decode(zstd_codec.zstd_encode(ROW) + zstd_codec.zstd_encode(b"more")) == ROW + b"more"


def test_threads_each_get_their_own_contexts() -> None:
    """Faust's consumer thread reads batches while the event loop's thread writes them."""
    results: dict[int, bool] = {}

    def round_trips(worker: int) -> None:
        value = ROW + str(worker).encode() * 500
        results[worker] = all(zstd_codec.zstd_decode(zstd_codec.zstd_encode(value)) == value for _ in range(300))

    threads = [threading.Thread(target=round_trips, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == {0: True, 1: True, 2: True, 3: True}
