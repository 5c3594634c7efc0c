"""KAFKA_COMPRESSION: what the producer is given, and a clear error for a codec it does not have."""

from __future__ import annotations

import pytest
from aiokafka import codec

from app.settings import COMPRESSION_TYPES, Settings, compression_type, settings


@pytest.mark.parametrize("value", ["zstd", "ZSTD", " lz4 ", "snappy", "gzip"])
def test_a_codec_name_is_passed_on_lower_case(value: str) -> None:
    assert compression_type(value) == value.strip().lower()


def test_none_turns_compression_off() -> None:
    assert compression_type("none") is None


def test_an_unknown_codec_is_refused_by_name() -> None:
    with pytest.raises(
        ValueError, match="KAFKA_COMPRESSION must be one of lz4, zstd, snappy, gzip or none, not 'brotli'"
    ):
        compression_type("brotli")


def test_every_codec_offered_is_installed() -> None:
    # aiokafka raises only when it first compresses a batch: a missing codec must fail here instead.
    installed = {
        "lz4": codec.has_lz4(),
        "zstd": codec.has_zstd(),
        "snappy": codec.has_snappy(),
        "gzip": codec.has_gzip(),
    }
    assert all(installed[name] for name in COMPRESSION_TYPES)


def test_zstd_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_COMPRESSION", raising=False)
    assert Settings.from_env().compression == "zstd"


def test_the_app_producer_compresses_with_the_setting() -> None:
    from app.main import app

    assert app.conf.producer_compression_type == settings.compression
