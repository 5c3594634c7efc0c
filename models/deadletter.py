"""The record written to ``events.deadletter`` for every message a worker could not apply."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from models.base import WireModel
from models.codec import BadMessage, Reason

# Header a replayed message carries: the deadLetterId it was replayed from (faust -A app replay-deadletters).
REPLAYED_FROM_HEADER = "replayed-from"


class DeadLetterHeader(WireModel):
    key: str
    value_base64: str | None


class DeadLetter(WireModel):
    dead_letter_id: str
    reason: Reason | str
    error: str
    fields: list[dict[str, str]] = []
    source_topic: str
    source_partition: int
    source_offset: int
    source_timestamp_ms: int | None = None
    key: str | None = None
    key_base64: str | None = None
    value_base64: str | None = None
    headers: list[DeadLetterHeader] = []
    tenant_id: str | None = None
    interview_id: str | None = None
    event_id: str | None = None
    failed_at: str

    @classmethod
    def of(
        cls,
        error: BadMessage,
        *,
        dead_letter_id: str,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int | None,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes | None]],
        failed_at: str,
        tenant_id: str | None = None,
        interview_id: str | None = None,
        event_id: str | None = None,
    ) -> DeadLetter:
        return cls(
            dead_letter_id=dead_letter_id,
            reason=error.reason,
            error=error.message,
            fields=error.fields,
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            source_timestamp_ms=timestamp_ms,
            key=key.decode("utf-8", "replace") if key is not None else None,
            key_base64=_b64(key),
            value_base64=_b64(value),
            headers=[DeadLetterHeader(key=k, value_base64=_b64(v)) for k, v in headers],
            tenant_id=tenant_id,
            interview_id=interview_id,
            event_id=event_id,
            failed_at=failed_at,
        )

    def original_value(self) -> bytes | None:
        return base64.b64decode(self.value_base64) if self.value_base64 is not None else None

    def original_key(self) -> bytes | None:
        return base64.b64decode(self.key_base64) if self.key_base64 is not None else None


def _b64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode() if data is not None else None
