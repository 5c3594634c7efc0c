"""The cached partitioner places every key exactly where aiokafka's default (and Java's) would."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from app.partitioning import default_partitioner, murmur2, partition_for

PARTITIONS = list(range(8))


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=8))
def test_keyed_records_land_where_the_default_partitioner_puts_them(key: bytes, count: int) -> None:
    partitions = PARTITIONS[:count]
    expected = DefaultPartitioner()(key, partitions, partitions)
    assert default_partitioner(key, partitions, partitions) == expected
    assert default_partitioner(key, partitions, partitions) == expected  # from the cache, the same


@given(st.text(max_size=40), st.integers(min_value=1, max_value=64))
def test_partition_for_is_murmur2_mod_partitions(key: str, partitions: int) -> None:
    assert partition_for(key, partitions) == (aiokafka_murmur2(key.encode()) & 0x7FFFFFFF) % partitions


@given(st.binary(max_size=80))
def test_murmur2_is_aiokafkas(key: bytes) -> None:
    # Every length modulo 4 and every byte value: the word loop and the tail both.
    assert murmur2(key) == aiokafka_murmur2(key) & 0xFFFFFFFF


# Kafka's UtilsTest.testMurmur2: Utils.murmur2(key) in the Java client, as signed 32-bit ints.
JAVA_MURMUR2 = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


def test_keys_land_where_the_java_client_puts_them() -> None:
    for key, java in JAVA_MURMUR2.items():
        positive = java & 0x7FFFFFFF  # Utils.toPositive
        assert partition_for(key, 7) == positive % 7
        assert murmur2(key.encode()) == java & 0xFFFFFFFF
        assert default_partitioner(key.encode(), PARTITIONS, PARTITIONS) == positive % len(PARTITIONS)


def test_unkeyed_records_go_to_an_available_partition() -> None:
    assert default_partitioner(None, PARTITIONS, [5]) == 5
    assert default_partitioner(None, PARTITIONS, []) in PARTITIONS
