"""Operator commands, the Faust way: ``faust -A app <command>``.

- ``produce-samples``: seed skill.validation.requested events (the seed's example, fresh ids).
- ``replay-deadletters``: re-send dead letters' original bytes, key and headers to their source
  topic after a fix (all, or by topic, reason or interview); ``--dry-run`` lists them.
- ``lag``: consumer lag as a table, like ``kafka-consumer-groups --describe``.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterable
from typing import Any

from faust.cli import AppCommand, option

from app import topics
from app.deadletters import read_dead_letters
from app.lag_monitor import LAG_POLL_SECONDS, LagMonitor
from app.main import app
from app.publish import publish_event
from app.settings import settings
from domain.lag import LagReport
from models.base import utc_timestamp
from models.deadletter import REPLAYED_FROM_HEADER
from models.envelope import Envelope, new_event_id, new_run_id
from models.payloads import Level, SkillValidationRequested
from models.topics import Topic

SAMPLE_SKILLS = (["TypeScript", "React", "Node.js"], ["Python", "Kafka", "Faust"], ["Go", "gRPC", "PostgreSQL"])


@app.command(
    option("--count", type=int, default=3, show_default=True, help="How many interviews to start."),
    option("--tenant", default="dev-tenant", show_default=True, help="tenantId of the events."),
)
async def produce_samples(self: AppCommand, count: int, tenant: str) -> None:
    """Produce sample skill.validation.requested events (the seed's example, fresh interviewIds)."""
    await self.app.maybe_start_producer()
    for n in range(count):
        interview_id = f"sample-{uuid.uuid4()}"
        payload = SkillValidationRequested(
            skills=SAMPLE_SKILLS[n % len(SAMPLE_SKILLS)],
            job_description="Build scalable platform services...",
            level=Level.SENIOR,
        )
        await publish_event(
            Envelope(
                event_type=Topic.SKILL_VALIDATION_REQUESTED,
                event_id=new_event_id(),
                tenant_id=tenant,
                run_id=new_run_id(),
                interview_id=interview_id,
                timestamp=utc_timestamp(),
                payload=payload,
            )
        )
        self.say(f"{Topic.SKILL_VALIDATION_REQUESTED} {interview_id}")
    await self.app.producer.flush()


def select_for_replay(
    letters: Iterable[dict[str, Any]], *, topic: str | None, reason: str | None, interview_id: str | None
) -> list[dict[str, Any]]:
    """The letters to replay, oldest first; one that was replayed and failed again is represented
    by its newer letter only."""
    letters = list(letters)
    superseded = {
        base64.b64decode(h["valueBase64"]).decode()
        for letter in letters
        for h in letter.get("headers", [])
        if h.get("key") == REPLAYED_FROM_HEADER and h.get("valueBase64")
    }
    chosen = [
        letter
        for letter in letters
        if letter.get("deadLetterId") not in superseded
        and (topic is None or letter.get("sourceTopic") == topic)
        and (reason is None or letter.get("reason") == reason)
        and (interview_id is None or letter.get("interviewId") == interview_id)
        and letter.get("sourceTopic") in topics.by_name
    ]
    return sorted(chosen, key=lambda letter: str(letter.get("failedAt", "")))


@app.command(
    option("--topic", default=None, help="Only letters from this source topic."),
    option("--reason", default=None, help="Only letters with this reason (e.g. unknown_interview)."),
    option("--interview-id", default=None, help="Only letters about this interview."),
    option("--dry-run", is_flag=True, default=False, help="List what would be replayed, send nothing."),
)
async def replay_deadletters(
    self: AppCommand, topic: str | None, reason: str | None, interview_id: str | None, dry_run: bool
) -> None:
    """Re-send dead letters' original messages to their source topic, after a fix."""
    letters = select_for_replay(await read_dead_letters(), topic=topic, reason=reason, interview_id=interview_id)
    if not dry_run:
        await self.app.maybe_start_producer()
    for letter in letters:
        source = str(letter["sourceTopic"])
        headers = [
            (h["key"], base64.b64decode(h["valueBase64"]) if h.get("valueBase64") else b"")
            for h in letter.get("headers", [])
            if h.get("key") != REPLAYED_FROM_HEADER
        ]
        headers.append((REPLAYED_FROM_HEADER, str(letter["deadLetterId"]).encode()))
        key = base64.b64decode(letter["keyBase64"]) if letter.get("keyBase64") else None
        value = base64.b64decode(letter["valueBase64"]) if letter.get("valueBase64") else None
        self.say(
            f"{'would replay' if dry_run else 'replaying'} {letter['deadLetterId']} {letter['reason']} -> {source}"
        )
        if not dry_run:
            await topics.by_name[source].send(key=key, value=value, headers=headers)
    if not dry_run:
        await self.app.producer.flush()
    self.say(f"{len(letters)} dead letter(s) {'selected' if dry_run else 'replayed'}")


LAG_COLUMNS = ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "LAG-SECONDS", "STATUS")


def lag_rows(report: LagReport) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for group in report.groups:
        for p in group.partitions:
            rows.append(
                (
                    group.group,
                    p.topic,
                    str(p.partition),
                    "-" if p.committed_offset is None else str(p.committed_offset),
                    str(p.log_end_offset),
                    "-" if p.lag_messages is None else str(p.lag_messages),
                    "-" if p.lag_seconds is None else f"{p.lag_seconds:.1f}",
                    p.status,
                )
            )
    return rows


def format_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *rows]
    )


@app.command(
    option("--samples", type=int, default=2, show_default=True, help="Polls before printing (status needs 2)."),
    option("--interval", type=float, default=1.0, show_default=True, help="Seconds between polls."),
)
async def lag(self: AppCommand, samples: int, interval: float) -> None:
    """Consumer lag of every group reading the workflow topics, like kafka-consumer-groups --describe."""
    monitor = LagMonitor(settings.broker, settings.group_id, settings.client_id, max(samples, 2), LAG_POLL_SECONDS)
    try:
        report = await monitor.poll()
        for _ in range(samples - 1):
            await asyncio.sleep(interval)
            report = await monitor.poll()
    finally:
        await monitor.close()
    if report.error:
        self.say(f"error: {report.error}")
    self.say(format_table(LAG_COLUMNS, lag_rows(report)))
    for group in report.groups:
        worst = group.worst_partition
        where = f"; worst {worst.topic}[{worst.partition}]" if worst else ""
        self.say(f"{group.group}: {group.status}, total lag {group.total_lag_messages}{where}")
