"""A real BulkRestoringStore (the webhook-queues table's shape) in a temporary table directory."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from app.codecs import PydanticCodec, Utf8
from tables.bulk_restore import BulkRestoringStore
from tables.webhook_queue import WebhookQueue

CODECS = {"key_serializer": Utf8(), "value_serializer": PydanticCodec(WebhookQueue)}


def open_store(tabledir: Path) -> BulkRestoringStore:
    shape = SimpleNamespace(name="webhook-queues", **CODECS)
    app = SimpleNamespace(conf=SimpleNamespace(tabledir=tabledir, table_key_index_size=1000))
    return BulkRestoringStore("bulkrocksdb:webhook-queues", app, shape, **CODECS)  # type: ignore[arg-type]
