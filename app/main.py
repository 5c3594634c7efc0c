"""The Faust app: one per worker process, configured from the environment."""

from __future__ import annotations

import faust

from app.settings import settings

MAX_REQUEST_BYTES = 8 * 1024 * 1024  # > 1 MiB so over-size messages reach the dead-letter topic

app = faust.App(
    settings.group_id,
    broker=settings.broker_urls,
    broker_client_id=settings.client_id,
    store="rocksdb://",  # RocksDB through rocksdict
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.replication_factor,
    producer_max_request_size=MAX_REQUEST_BYTES,
    consumer_max_fetch_size=MAX_REQUEST_BYTES,
    # A topic created while the group was assigning (a fresh broker) is missing from that
    # assignment; fresh metadata every 5 s makes the group rebalance onto it within seconds.
    consumer_metadata_max_age_ms=5000,
    # A worker that dies without leaving the group holds its partitions until its session times
    # out; 10 s (heartbeats every 3 s) instead of Faust's 60 s lets the others take over sooner.
    broker_session_timeout=settings.session_timeout_seconds,
    broker_heartbeat_interval=settings.session_timeout_seconds / 3.5,
    stream_wait_empty=False,  # shut down without waiting for buffered events: they are uncommitted
    autodiscover=False,
    web_enabled=True,
    version=1,
)
