"""The ingestion topic of the AEGIS seed: ``{"event_type": ..., "data": {...}}`` on entity-extraction-worker."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from models.codec import json_object, schema_violation

EventType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Keys under which ``data`` may carry an entity's id, in the order they are looked for.
ENTITY_ID_KEYS = ("id", "entity_id", "entityId")
# How deep ``data`` may nest. JSON encoders (orjson, pydantic's) stop near 255 levels and a table row
# wraps data in a few more, so deeper data would parse here but fail when stored or served.
MAX_DATA_DEPTH = 64


def json_depth(value: Any) -> int:
    """How many lists/objects deep ``value`` nests (0 for a scalar); iterative, so any depth is safe."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth + 1)
            pending.extend((child, depth + 1) for child in children)
    return deepest


class EntityEvent(BaseModel):
    """snake_case on the wire, as the seed's ingestion service writes it; extra fields are kept out."""

    model_config = ConfigDict(extra="ignore")

    event_type: EventType
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("data")
    @classmethod
    def _not_too_deep(cls, value: dict[str, Any]) -> dict[str, Any]:
        if (depth := json_depth(value)) > MAX_DATA_DEPTH:
            raise ValueError(f"data nests {depth} levels deep, over the limit of {MAX_DATA_DEPTH}")
        return value

    def entity_id(self) -> str | None:
        for key in ENTITY_ID_KEYS:
            value = self.data.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
                return str(value)
        return None


def decode_entity_event(raw: bytes | None) -> EntityEvent:
    """One message of entity-extraction-worker, or BadMessage naming what is wrong."""
    document = json_object(raw, "event")
    try:
        return EntityEvent.model_validate(document)
    except ValidationError as exc:
        raise schema_violation(exc) from None
