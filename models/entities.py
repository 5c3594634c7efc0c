"""The ingestion topic of the AEGIS seed: ``{"event_type": ..., "data": {...}}`` on entity-extraction-worker."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from models.codec import json_object, schema_violation

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
    document = json_object(raw, "event")
    try:
        return EntityEvent.model_validate(document)
    except ValidationError as exc:
        raise schema_violation(exc) from None
