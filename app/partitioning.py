"""Which partition a key goes to: Kafka's default (murmur2) partitioner, with the hash cached.

Java clients, aiokafka and this app all place a keyed record at murmur2(key) mod partitions. aiokafka's
murmur2 is pure Python (several µs a key), and a worker hashes each interviewId several times per
event: the home-partition check of every input and the producer's choice for every follow-on
event. An interview's events share their key, so the hash is computed once and remembered.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from aiokafka.partitioner import DefaultPartitioner, murmur2

KEYS_REMEMBERED = 65_536

_unkeyed = DefaultPartitioner()


@functools.lru_cache(maxsize=KEYS_REMEMBERED)
def key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def partition_for(key: str, partitions: int) -> int:
    """The partition a record keyed ``key`` lands on in a topic of ``partitions`` partitions."""
    return key_hash(key.encode()) % partitions


def default_partitioner(key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
    """aiokafka's DefaultPartitioner (the producer's ``partitioner``), with the cached hash."""
    if key is None:
        return int(_unkeyed(key, all_partitions, available))
    return all_partitions[key_hash(key) % len(all_partitions)]
