"""Shared pydantic base for every message: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """A message part as it travels on Kafka or HTTP: camelCase JSON, unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_wire(self, *, exclude_none: bool = True) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=exclude_none)


def utc_timestamp(at: datetime | None = None) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, the envelope's timestamp format."""
    at = datetime.now(UTC) if at is None else at.astimezone(UTC)
    return at.isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" -> "Z"; isoformat is C, strftime is not


def ascii_int(text: str) -> int | None:
    """``text`` as a non-negative integer if it is ASCII digits only, else None.

    ``str.isdigit()`` alone lets "²" through to ``int()`` (which raises) and "٣" through as 3.
    """
    return int(text) if text.isascii() and text.isdigit() else None


def parse_timestamp(value: str) -> datetime:
    """An ISO-8601 timestamp with a zone, in UTC; ValueError (what validators turn into 400s) if not."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("timestamp must carry a time zone (use Z for UTC)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: pydantic passes OverflowError through
        raise ValueError("timestamp is out of range once converted to UTC") from None
