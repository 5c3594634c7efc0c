"""Per event_type: how many entity events arrived, the most recent ones, and each entity by its id."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from models.base import WireModel
from models.entities import EntityEvent

RECENT_KEPT = 50
ENTITIES_KEPT = 10_000  # per event_type; the least recently seen id is dropped first


class ReceivedEntity(WireModel):
    entity_id: str | None = None
    data: dict[str, Any]
    received_at: str
    source: str  # topic[partition]@offset of the original message


class EntityTypeSummary(WireModel):
    event_type: str
    count: int = 0
    first_seen_at: str | None = None
    last_seen_at: str | None = None
    recent: list[ReceivedEntity] = Field(default_factory=list)  # newest last
    entities: dict[str, ReceivedEntity] = Field(default_factory=dict)  # by id, least recently seen first
    sources: list[str] = Field(default_factory=list)  # positions applied, for redelivery

    def record(self, event: EntityEvent, *, at: str, source: str) -> bool:
        """Count and keep ``event``; False when this source position was applied already."""
        if source in self.sources:
            return False
        received = ReceivedEntity(entity_id=event.entity_id(), data=event.data, received_at=at, source=source)
        self.count += 1
        self.first_seen_at = self.first_seen_at or at
        self.last_seen_at = at
        self.recent.append(received)
        del self.recent[:-RECENT_KEPT]
        if received.entity_id is not None:
            self.entities.pop(received.entity_id, None)  # re-insert: most recently seen last
            self.entities[received.entity_id] = received
            while len(self.entities) > ENTITIES_KEPT:
                del self.entities[next(iter(self.entities))]
        self.sources.append(source)
        del self.sources[:-RECENT_KEPT]
        return True
