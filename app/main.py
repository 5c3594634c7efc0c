"""The Faust app: one per worker process, configured from the environment."""

from __future__ import annotations

import logging

import faust
from aiohttp import web
from aiohttp.typedefs import Handler

from app import gc_policy, partitioning, zstd_codec
from app.settings import settings

zstd_codec.install()  # before any record batch is built or read

MAX_REQUEST_BYTES = 8 * 1024 * 1024  # > 1 MiB so over-size messages reach the dead-letter topic


@web.middleware
async def json_router_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """No route matched (an unknown path, or an id with a brace, which the router's {id} excludes):
    answered in JSON like every view's error, instead of aiohttp's text/plain "404: Not Found"."""
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
        error = "not_found" if exc.status == 404 else "method_not_allowed"
        message = f"no {request.method} {request.path[:200]} here"
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return web.json_response({"error": error, "message": message}, status=exc.status, headers=allow)


app = faust.App(
    settings.group_id,
    broker=settings.broker_urls,
    broker_client_id=settings.client_id,
    store="rocksdb://",  # RocksDB through rocksdict
    # Faust's recovery, with a bulk restore of long backlogs, seeking stream partitions before it
    # resumes them (a lost-ack stall otherwise).
    TableManager="tables.recovery:AppTableManager",
    ConsumerScheduler="app.scheduling:PartitionRuns",  # runs of one partition, not one record per topic in turn
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.replication_factor,
    producer_max_request_size=MAX_REQUEST_BYTES,
    # A busy worker sends a table row (~5 KiB) and a follow-on event per step: 1 MiB batches send them
    # together; acks stay at "all" (Faust's default) and a commit still flushes first. librdkafka builds
    # and sends the batches in its own thread (app/librdkafka_producer.py), so the linger is 1 ms: the
    # 5 ms aiokafka needed to keep its requests off the event loop's thread only delayed every record.
    producer_linger=0.001,
    # Rows and events are JSON that compresses several times over: fewer bytes to send, for the
    # broker to write and for a restore to read (recovery ~35,000 -> 52,000-63,000 records/s standalone).
    producer_compression_type=settings.compression,
    producer_max_batch_size=1024 * 1024,
    # Faust's key_partition (its aiokafka client); records sent are placed by librdkafka's murmur2, the same.
    producer_partitioner=partitioning.default_partitioner,
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
    web_application_options={"middlewares": [json_router_errors]},
    # Faust's /table blueprint serves any table key with no auth (every tenant's rows, access
    # tokens included) and /router shows the topology; the views here route by app.router instead.
    web_tables_enabled=False,
    web_router_enabled=False,
    version=1,
)


@app.task
async def _root_logger_at_handler_level() -> None:
    """Undo the DEBUG root level Faust's worker sets for its terminal spinner.

    With ``-l warn`` (or higher) the worker adds a spinner handler at DEBUG and lowers the root
    logger to DEBUG, so every debug call in aiokafka and Faust builds and handles a record: about
    5% of a busy worker's CPU. Records below what the handlers print are dropped at the source again.
    """
    _drop_spinner_logging()


@app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode types the receiver narrower than it calls it
async def _quiet_before_recovery(sender: object, *args: object, **kwargs: object) -> None:
    """App tasks start only once table recovery is done, and a restore logs two debug records per
    changelog record (about 11% of its CPU); the first rebalance comes before it, so fix the level there."""
    _drop_spinner_logging()


@app.on_partitions_revoked.connect  # type: ignore[arg-type]  # as above
async def _tune_gc_before_recovery(sender: object, *args: object, **kwargs: object) -> None:
    """Start-up is over by the first rebalance: leave its heap out of garbage collection (app/gc_policy.py)."""
    gc_policy.tune_for_worker()


def _drop_spinner_logging() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler).__name__ == "SpinnerHandler":
            root.removeHandler(handler)
    levels = [handler.level for handler in root.handlers if handler.level]
    root.setLevel(min(levels, default=logging.WARNING))
