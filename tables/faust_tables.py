"""The changelog-backed Faust tables (RocksDB via rocksdict), co-partitioned with the topics."""

from __future__ import annotations

from typing import Any, cast

from faust import Table
from pydantic import BaseModel

from app.codecs import PydanticCodec, Utf8
from app.main import app
from app.settings import settings
from tables import bulk_restore
from tables.entities import EntityTypeSummary
from tables.interview import Interview
from tables.notifications import NotificationLog
from tables.webhook_queue import WebhookQueue


def _table(name: str, row: type[BaseModel], help: str) -> Table[str, Any]:
    # On rocksdb:// (the app's store) tables use that store with a bulk restore (tables/bulk_restore.py),
    # in the same files: the path is the table's name, as Faust makes it for rocksdb://. (A URL with
    # neither host nor path is false, and Faust would fall back to the app's store.)
    store = f"{bulk_restore.SCHEME}:{name}" if _on_rocksdb() else None
    table = cast(Table[str, Any], app.Table(name, partitions=settings.partitions, help=help, store=store))
    # Faust derives serializers from Record types only; rows here are pydantic models, so the
    # codecs are set after construction, before the store is built (lazily, at start).
    table.key_serializer = Utf8()
    table.value_serializer = PydanticCodec(row)
    # The changelog topic was already built (with JSON codecs) when the table registered itself;
    # rebuild it, with raw codecs: writes name the table's codecs themselves (Table.send_changelog),
    # so the topic's own only decode records on restore, where the RocksDB store puts each record's
    # raw bytes and drops the decoded row. Parsing every restored row with pydantic for nothing was
    # the largest cost of a restore; rows are parsed when read, with the codecs above.
    table.changelog_topic = _raw_changelog_topic(table)
    return table


def _on_rocksdb() -> bool:
    return str(app.conf.store).startswith("rocksdb")


def _raw_changelog_topic(table: Table[str, Any]) -> Any:
    if not _on_rocksdb():  # the memory store keeps the decoded values
        return table._new_changelog_topic()
    codecs = table.key_serializer, table.value_serializer
    table.key_serializer = table.value_serializer = "raw"
    try:
        return table._new_changelog_topic()
    finally:
        table.key_serializer, table.value_serializer = codecs


interviews = _table("interviews", Interview, "Interview rows keyed by interviewId.")
webhook_queues = _table("webhook-queues", WebhookQueue, "Per-interview webhook deliveries: pending, delivered, dead.")
notifications = _table("notifications", NotificationLog, "Per-interview notifications sent to the recruiter.")
entities = _table("entities", EntityTypeSummary, "entity-extraction-worker events per event_type.")
