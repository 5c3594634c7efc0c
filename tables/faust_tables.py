"""The changelog-backed Faust tables (RocksDB via rocksdict), co-partitioned with the topics."""

from __future__ import annotations

from typing import Any, cast

from faust import Table
from pydantic import BaseModel

from app.codecs import PydanticCodec, Utf8
from app.main import app
from app.settings import settings
from tables.interview import Interview
from tables.notifications import NotificationLog
from tables.webhook_queue import WebhookQueue


def _table(name: str, row: type[BaseModel], help: str) -> Table[str, Any]:
    table = cast(Table[str, Any], app.Table(name, partitions=settings.partitions, help=help))
    # Faust derives serializers from Record types only; rows here are pydantic models, so the
    # codecs are set before the store and changelog topic are built (both happen lazily at start).
    table.key_serializer = Utf8()
    table.value_serializer = PydanticCodec(row)
    return table


interviews = _table("interviews", Interview, "Interview rows keyed by interviewId.")
webhook_queues = _table("webhook-queues", WebhookQueue, "Per-interview webhook deliveries: pending, delivered, dead.")
notifications = _table("notifications", NotificationLog, "Per-interview notifications sent to the recruiter.")
