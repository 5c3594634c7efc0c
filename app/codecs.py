"""Faust codecs: how keys, envelopes and table rows become bytes and back."""

from __future__ import annotations

from typing import Any

from faust.serializers.codecs import Codec
from pydantic import BaseModel

from models.codec import BadMessage, Reason, decode_event, encode_event
from models.envelope import Envelope


class Utf8(Codec):
    """Keys are plain UTF-8 interviewIds, exactly as outside producers write them."""

    def _dumps(self, obj: Any) -> bytes:
        return obj if isinstance(obj, bytes) else str(obj).encode()

    def _loads(self, s: bytes) -> str:
        # Never raise: Faust throws a key it cannot decode into the agent, which crashes and drops the
        # message. The raw bytes stay on the message, so the key check still sees (and refuses) them.
        return s.decode(errors="replace")


class EnvelopeCodec(Codec):
    """Decodes a workflow topic's value into a validated Envelope.

    A bad message decodes to its BadMessage instead of raising: Faust acks and skips a value
    that fails to decode, so the agent must see it to dead-letter it before moving on.
    """

    def __init__(self, topic: str) -> None:
        super().__init__(topic=topic)
        self.topic = topic

    def _loads(self, s: bytes) -> Envelope[Any] | BadMessage:
        try:
            return decode_event(s, self.topic)
        except BadMessage as exc:
            return exc
        except Exception as exc:  # a decoder bug must not crash the agent either (see Utf8)
            return BadMessage(Reason.PROCESSING_FAILED, f"decoding failed: {type(exc).__name__}: {exc}")

    def _dumps(self, obj: Any) -> bytes:
        return obj if isinstance(obj, bytes) else encode_event(obj)


class PydanticCodec(Codec):
    """Table rows as the camelCase JSON of a pydantic model."""

    def __init__(self, model: type[BaseModel]) -> None:
        super().__init__(model=model.__name__)
        self.model = model

    def _loads(self, s: bytes) -> BaseModel:
        return self.model.model_validate_json(s)

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, bytes):
            return obj
        return obj.model_dump_json(by_alias=True).encode()  # type: ignore[no-any-return]
