"""Shared pydantic base for every message: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

import time
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
    if at is None:
        return _now_timestamp()
    return at.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" -> "Z"; strftime is slower


# The current second, formatted: every step stamps "now", and nearly all stamps fall in the second of
# the one before. 0.45 µs a stamp instead of 1.6 for a datetime built and formatted each time, which a
# worker at 1,000 inputs/s spent ~2% of its event loop's thread on (py-spy --gil).
_second: tuple[int, str] = (-1, "")


def _now_timestamp() -> str:
    global _second
    # Milliseconds truncated, as isoformat(timespec="milliseconds") does, from the clock datetime.now reads.
    second, millisecond = divmod(time.time_ns() // 1_000_000, 1000)
    if _second[0] != second:
        _second = (second, datetime.fromtimestamp(second, UTC).isoformat()[:-6])  # "+00:00" off
    return f"{_second[1]}.{millisecond:03d}Z"


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
