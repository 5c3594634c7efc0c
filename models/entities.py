"""The ingestion topic of the AEGIS seed: ``{"event_type": ..., "data": {...}}`` on entity-extraction-worker."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from models.codec import MAX_MESSAGE_BYTES, BadMessage, Reason, field_errors

EventType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Keys under which ``data`` may carry an entity's id, in the order they are looked for.
ENTITY_ID_KEYS = ("id", "entity_id", "entityId")


class EntityEvent(BaseModel):
    """snake_case on the wire, as the seed's ingestion service writes it; extra fields are kept out."""

    model_config = ConfigDict(extra="ignore")

    event_type: EventType
    data: dict[str, Any] = Field(default_factory=dict)

    def entity_id(self) -> str | None:
        for key in ENTITY_ID_KEYS:
            value = self.data.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
                return str(value)
        return None


def decode_entity_event(raw: bytes | None) -> EntityEvent:
    """One message of entity-extraction-worker, or BadMessage naming what is wrong."""
    if raw is None:
        raise BadMessage(Reason.NOT_JSON, "message has no value (tombstone)")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise BadMessage(Reason.TOO_LARGE, f"message is {len(raw)} bytes, over the {MAX_MESSAGE_BYTES}-byte limit")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadMessage(Reason.NOT_JSON, f"value is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadMessage(Reason.SCHEMA, f"event must be a JSON object, got {type(document).__name__}")
    try:
        return EntityEvent.model_validate(document)
    except ValidationError as exc:
        fields = field_errors(exc)
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        raise BadMessage(Reason.SCHEMA, f"schema violation: {summary}", fields) from None
