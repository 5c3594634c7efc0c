"""The envelope every workflow message shares, and the ids this project mints."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, StringConstraints, field_validator

from models.base import WireModel, parse_timestamp, utc_timestamp

PayloadT = TypeVar("PayloadT", bound=BaseModel)
NonEmptyId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

# Namespace of every uuid5 this project derives, so derived ids never collide with others'.
ID_NAMESPACE = uuid.UUID("6f1d3c1e-5d0a-4c52-9b0e-2f6a3c9d8e71")


class Envelope(WireModel, Generic[PayloadT]):
    event_type: NonEmptyId
    event_id: NonEmptyId | None = None
    tenant_id: NonEmptyId
    run_id: NonEmptyId | None = None
    interview_id: NonEmptyId
    timestamp: str
    payload: PayloadT

    @field_validator("timestamp")
    @classmethod
    def _iso_timestamp(cls, value: str) -> str:
        parse_timestamp(value)
        return value

    @property
    def id(self) -> str:
        """The eventId; decoding always fills it (derived from the source position if absent)."""
        assert self.event_id is not None, "envelope was not decoded through models.codec"
        return self.event_id


def derived_id(*parts: object) -> str:
    """A stable uuid for the same parts: redelivered inputs yield the same follow-on ids.

    Exactly ``str(uuid.uuid5(ID_NAMESPACE, name))``, computed without building a UUID object: it
    runs several times per event, and uuid5's object construction was most of its cost.
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + "\x1f".join(map(str, parts)).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    hex_ = digest.hex()
    return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"


_NAMESPACE_BYTES = ID_NAMESPACE.bytes


def position_event_id(topic: str, partition: int, offset: int) -> str:
    """eventId for a message whose producer left it out: stable per topic+partition+offset."""
    return derived_id("position", topic, partition, offset)


def new_event_id() -> str:
    return str(uuid.uuid4())


def new_run_id(now: float | None = None) -> str:
    return f"run_{int(now if now is not None else time.time())}_{secrets.token_hex(4)}"


def run_id_for(event_id: str, now: float | None = None) -> str:
    """A run id in the project's format, derived from an eventId so redelivery gives the same."""
    return f"run_{int(now if now is not None else time.time())}_{derived_id('run', event_id)[:8]}"


__all__ = [
    "Envelope",
    "derived_id",
    "new_event_id",
    "new_run_id",
    "position_event_id",
    "run_id_for",
    "utc_timestamp",
]
