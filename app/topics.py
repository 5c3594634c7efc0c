"""Every topic the app reads or writes, declared once with its partitions and codecs."""

from __future__ import annotations

from typing import Any

from faust.types import TopicT

from app.codecs import EnvelopeCodec, Utf8
from app.main import app
from app.settings import settings
from models.topics import WORKFLOW_TOPICS, Topic


def _declare(name: str, value_serializer: Any) -> TopicT:
    # internal=True: Faust creates the topic (with our partition count) before subscribing,
    # instead of the broker auto-creating it with its own default.
    return app.topic(
        name,
        key_serializer=Utf8(),
        value_serializer=value_serializer,
        partitions=settings.partitions,
        internal=True,
    )


workflow: dict[str, TopicT] = {name: _declare(name, EnvelopeCodec(name)) for name in WORKFLOW_TOPICS}
webhook_outbox = _declare(Topic.WEBHOOK_OUTBOX, "raw")
deadletter = _declare(Topic.DEADLETTER, "raw")
entity_extraction = _declare(Topic.ENTITY_EXTRACTION, "raw")
entities_by_type = _declare(Topic.ENTITIES_BY_TYPE, "raw")

by_name: dict[str, TopicT] = {
    **workflow,
    Topic.WEBHOOK_OUTBOX: webhook_outbox,
    Topic.DEADLETTER: deadletter,
    Topic.ENTITY_EXTRACTION: entity_extraction,
    Topic.ENTITIES_BY_TYPE: entities_by_type,
}


async def declare_all() -> None:
    """Create every topic up front, also those this worker only produces to."""
    for topic in by_name.values():
        await topic.maybe_declare()
