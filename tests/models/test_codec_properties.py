"""Properties of the codec: every bad message names its exact reason (and field); nothing else escapes.

Pure and fast: no broker. The integration twin (tests/integration/test_bad_input_properties.py)
throws the same strategies at a real worker.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.codec import BadMessage, Reason, complete_envelope, decode_event, encode_event
from models.entities import decode_entity_event
from models.topics import WORKFLOW_TOPICS

# tests/ has no __init__.py (test modules are top-level, as conftest is): strategies is one too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from strategies import (
    BadCase,
    bad_entity_events,
    bad_messages,
    dumps,
    entity_events,
    envelopes,
    json_values,
    with_extra_fields,
)

TOPICS = [str(topic) for topic in WORKFLOW_TOPICS]
MANY = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def decode_record(value: bytes | None, key: bytes | None, topic: str) -> None:
    """What a worker does with a record before any step: decode, then the checks that need the key."""
    envelope = decode_event(value, topic)
    complete_envelope(envelope, key=key, topic=topic, partition=0, offset=7)


def assert_names_the_field(error: BadMessage, field: str) -> None:
    """Every field error is about ``field`` (or inside it), and the message says so."""
    assert error.fields, error.message
    named = [f["field"] for f in error.fields]
    assert all(name == field or name.startswith(f"{field}.") for name in named), (field, named, error.message)
    assert field in error.message


def assert_dead_letter_reason(case: BadCase, topic: str) -> None:
    with pytest.raises(BadMessage) as caught:
        decode_record(case.value, case.key, topic)
    error = caught.value
    assert error.reason is case.reason, (case.what, error.reason, error.message[:300])
    assert error.message
    if case.field is not None:
        assert_names_the_field(error, case.field)


@MANY
@given(data=st.data(), topic=st.sampled_from(TOPICS))
def test_every_bad_message_is_refused_with_its_own_reason(data: st.DataObject, topic: str) -> None:
    case = data.draw(bad_messages(topic, oversize=False), label="case")
    assert_dead_letter_reason(case, topic)


@settings(MANY, max_examples=30)  # each example is over a mebibyte
@given(data=st.data(), topic=st.sampled_from(TOPICS))
def test_over_a_mebibyte_is_too_large_whatever_else_is_wrong(data: st.DataObject, topic: str) -> None:
    case = data.draw(bad_messages(topic, only="too-large"), label="case")
    assert_dead_letter_reason(case, topic)


@MANY
@given(data=st.data(), topic=st.sampled_from(TOPICS))
def test_every_good_envelope_decodes_and_round_trips(data: st.DataObject, topic: str) -> None:
    document = data.draw(envelopes(topic), label="envelope")
    extended = data.draw(st.one_of(st.just(document), with_extra_fields(document)), label="sent")
    raw = dumps(extended)

    envelope = decode_event(raw, topic)
    completed = complete_envelope(envelope, key=document["interviewId"].encode(), topic=topic, partition=1, offset=9)

    assert completed.event_type == topic
    assert completed.tenant_id == document["tenantId"]
    assert completed.interview_id == document["interviewId"]
    assert completed.event_id == document.get("eventId", completed.event_id) and completed.event_id
    # Unknown fields are dropped; every known one comes back as it was sent.
    again = json.loads(encode_event(completed))
    assert {k: again[k] for k in document if k != "payload"} == {k: v for k, v in document.items() if k != "payload"}
    assert {k: again["payload"][k] for k in document["payload"]} == document["payload"]
    assert set(again) <= set(document) | {"eventId"}


@MANY
@given(value=st.one_of(st.none(), st.binary(max_size=300)), topic=st.sampled_from(TOPICS))
def test_arbitrary_bytes_never_raise_anything_but_bad_message(value: bytes | None, topic: str) -> None:
    try:
        decode_event(value, topic)
    except BadMessage as exc:
        assert exc.reason in {Reason.NOT_JSON, Reason.SCHEMA, Reason.UNKNOWN_EVENT_TYPE}


@MANY
@given(data=st.data(), topic=st.sampled_from(TOPICS))
def test_any_change_to_a_good_envelope_decodes_or_is_a_bad_message(data: st.DataObject, topic: str) -> None:
    """Fields replaced by any JSON at all (the envelope's and the payload's): an envelope or a BadMessage."""
    document = data.draw(envelopes(topic), label="envelope")
    names = sorted(document) + [f"payload.{name}" for name in sorted(document["payload"])]
    changes = data.draw(st.dictionaries(st.sampled_from(names), json_values, min_size=1, max_size=3), label="changes")
    for name, value in changes.items():
        if name.startswith("payload."):
            if isinstance(document["payload"], dict):
                document["payload"][name.removeprefix("payload.")] = value
        else:
            document[name] = value
    try:
        decode_record(dumps(document), str(document.get("interviewId")).encode(), topic)
    except BadMessage as exc:
        assert exc.reason is not Reason.PROCESSING_FAILED
        assert exc.message


# --- the ingestion topic --------------------------------------------------------------------------


@MANY
@given(case=bad_entity_events(oversize=False))
def test_every_bad_entity_event_is_refused_with_its_own_reason(case: BadCase) -> None:
    with pytest.raises(BadMessage) as caught:
        decode_entity_event(case.value)
    error = caught.value
    assert error.reason is case.reason, (case.what, error.reason, error.message[:300])
    if case.field is not None:
        assert_names_the_field(error, case.field)


@MANY
@given(document=entity_events())
def test_every_good_entity_event_decodes_and_can_be_served(document: dict[str, Any]) -> None:
    entity = decode_entity_event(dumps(document))

    assert entity.event_type == document["event_type"].strip()
    assert entity.entity_id() == document["data"]["id"]
    # What is kept must be writable to the table and to an HTTP answer.
    assert orjson.loads(orjson.dumps(entity.data)) == json.loads(json.dumps(document["data"]))
