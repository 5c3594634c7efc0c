"""entity-extraction-worker -> the entities table, one row per event_type.

Ingestion services key their messages as they like (or not at all), so the first agent
re-partitions good events by event_type onto entities.by-type; the second writes the table from
that topic, inside the stream of the partition that owns the row, as Faust requires. The source
topic itself is never written to: other consumers of it see each event once.
"""

from __future__ import annotations

from typing import Any

from faust.types import StreamT

from agents.runtime import dead_letter, header_items
from app import metrics, topics
from app.main import app
from models.base import utc_timestamp
from models.codec import BadMessage, Reason
from models.entities import decode_entity_event
from models.topics import Topic
from tables.entities import EntityTypeSummary
from tables.faust_tables import entities
from tables.rows import write_row

SOURCE_HEADER = "entity-source"  # topic[partition]@offset of the original message


@app.agent(topics.entity_extraction, name="entities-intake")
async def repartition_entities(stream: StreamT[Any]) -> None:
    async for event in stream.events():
        message = event.message
        metrics.consumed(message.topic)
        try:
            entity = decode_entity_event(message.value)
        except BadMessage as exc:
            await dead_letter(event, exc)
            continue
        source = f"{message.topic}[{message.partition}]@{message.offset}"
        headers = [*header_items(message.headers), (SOURCE_HEADER, source.encode())]
        await topics.send(Topic.ENTITIES_BY_TYPE, entity.event_type, message.value, headers=headers)
        metrics.produced(Topic.ENTITIES_BY_TYPE)


@app.agent(topics.entities_by_type, name="entities-table")
async def record_entities(stream: StreamT[Any]) -> None:
    async for event in stream.events():
        message = event.message
        try:
            entity = decode_entity_event(message.value)
            headers = dict(header_items(message.headers))
            source = (headers.get(SOURCE_HEADER) or f"{message.topic}@{message.offset}".encode()).decode()
            summary: EntityTypeSummary = entities.get(entity.event_type) or EntityTypeSummary(
                event_type=entity.event_type
            )
            summary.record(entity, at=utc_timestamp(), source=source)  # False: a redelivery, written again
            # (as rewrite_for_changelog explains)
            await write_row(entities, entity.event_type, summary, partition=message.partition)
        except BadMessage as exc:
            await dead_letter(event, exc)
        except Exception as exc:  # a bug must not stop the partition
            await dead_letter(event, BadMessage(Reason.PROCESSING_FAILED, f"{type(exc).__name__}: {exc}"))
