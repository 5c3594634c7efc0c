"""The changelog-backed Faust tables (RocksDB via rocksdict), co-partitioned with the topics."""

from __future__ import annotations

from typing import Any, cast

from faust import Table
from pydantic import BaseModel

from app.codecs import PydanticCodec, Utf8
from app.main import app
from app.settings import settings
from tables.entities import EntityTypeSummary
from tables.interview import Interview
from tables.notifications import NotificationLog
from tables.webhook_queue import WebhookQueue


def _table(name: str, row: type[BaseModel], help: str) -> Table[str, Any]:
    table = cast(Table[str, Any], app.Table(name, partitions=settings.partitions, help=help))
    # Faust derives serializers from Record types only; rows here are pydantic models, so the
    # codecs are set after construction, before the store is built (lazily, at start).
    table.key_serializer = Utf8()
    table.value_serializer = PydanticCodec(row)
    # The changelog topic was already built (with JSON codecs) when the table registered itself;
    # rebuild it so recovery decodes the changelog with the codecs the writes used.
    table.changelog_topic = table._new_changelog_topic()
    return table


interviews = _table("interviews", Interview, "Interview rows keyed by interviewId.")
webhook_queues = _table("webhook-queues", WebhookQueue, "Per-interview webhook deliveries: pending, delivered, dead.")
notifications = _table("notifications", NotificationLog, "Per-interview notifications sent to the recruiter.")
entities = _table("entities", EntityTypeSummary, "entity-extraction-worker events per event_type.")
