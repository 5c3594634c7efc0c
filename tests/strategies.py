"""Hypothesis strategies shared by the property tests: good envelopes, and bad messages and bodies
that each know why they are bad (the codec Reason, and the field that is wrong).

A bad case changes exactly one thing about a good message, so the property can insist on *the*
reason and *the* field, not just "some error". Field kinds are written out per topic (not derived
from the pydantic models) so that a model that stops rejecting something is caught.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from models.codec import MAX_MESSAGE_BYTES, Reason
from models.entities import MAX_DATA_DEPTH
from models.topics import WORKFLOW_TOPICS, Topic

# --- strings -------------------------------------------------------------------------------------

# Right-to-left override, NUL, BOM, zero-width joiner, combining accent, astral plane, an Arabic ligature.
WEIRD = ["\u202e", "\x00", "\ufeff", "\u200d", "e\u0301", "\U0001d54f", "\ufdfa", "\u05d0\u05d1", "\U0001f600", "\\"]


def weird_text(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    """Any unicode text (no lone surrogates: they are not encodable), spiced with known troublemakers."""
    spiced = st.lists(st.one_of(st.sampled_from(WEIRD), st.text(max_size=4)), min_size=1, max_size=4).map("".join)
    return st.one_of(
        st.text(min_size=min_size, max_size=max_size), spiced.filter(lambda s: min_size <= len(s) <= max_size)
    )


def non_empty_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Text with something left after stripping whitespace, and none to strip (so it round-trips)."""
    return weird_text(1, max_size).filter(lambda s: s.strip() == s and bool(s))


ids = non_empty_text(60)
LEVELS = ("JUNIOR", "MID", "SENIOR", "LEAD", "PRINCIPAL")
timestamps = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)).map(
    lambda at: at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
)

# --- what each field of each topic's payload is ---------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One payload field: its kind (how to make a good and a wrong value) and whether it is required."""

    kind: str  # str | text (non-empty str) | int | bool | strs | enum | objects | plan
    required: bool = False
    good: st.SearchStrategy[Any] | None = None  # when the kind's default good values are too wide
    values: tuple[str, ...] = ()  # an enum's members
    max_items: int | None = None  # a list's limit
    low: int | None = None  # an int's range, inclusive
    high: int | None = None


def enum(*values: str, required: bool = False) -> Spec:
    return Spec("enum", required=required, good=st.sampled_from(values), values=values)


QUALITY = ("EXCELLENT", "GOOD", "FAIR", "POOR")
DETAILS: dict[str, Spec] = {
    "candidateRef": Spec("str"),
    "candidateName": Spec("str"),
    "candidateEmail": Spec("str"),
    "position": Spec("str"),
    "level": Spec("str"),
    "skills": Spec("strs", max_items=200),
    "qualifications": Spec("strs", max_items=200),
    "jobDescription": Spec("str"),
    "durationMinutes": Spec("int", low=1, high=480),
}
MISSING_FIELD = st.fixed_dictionaries(
    {"field": weird_text(), "severity": st.sampled_from(["CRITICAL", "HIGH", "MEDIUM"]), "question": weird_text()}
)
TRANSCRIPT_LINE = st.fixed_dictionaries({"speaker": non_empty_text(), "text": weird_text()})
COMPETENCY_SCORE = st.fixed_dictionaries(
    {"name": weird_text(), "score": st.integers(1, 5), "evidence": st.lists(weird_text(), max_size=3)}
)

PAYLOADS: dict[str, dict[str, Spec]] = {
    Topic.INTERVIEW_REQUESTED: {**DETAILS, "externalId": Spec("str"), "callbackUrl": Spec("str")},
    Topic.INFO_PROVIDED: {**DETAILS, "providedBy": Spec("str")},
    Topic.INFO_NEEDED: {
        "missingFields": Spec("objects", required=True, good=st.lists(MISSING_FIELD, max_size=3)),
        "warnings": Spec("strs"),
        "dataQuality": enum(*QUALITY),
    },
    Topic.INFO_COMPLETED: {"providedFields": Spec("strs", required=True), "dataQuality": enum(*QUALITY)},
    Topic.SKILL_VALIDATION_REQUESTED: {
        "skills": Spec("strs", required=True, max_items=200),
        "jobDescription": Spec("str", required=True),
        "level": enum(*LEVELS, required=True),
        "callbackUrl": Spec("str"),
        "position": Spec("str"),
        "durationMinutes": Spec("int", low=1, high=480),
    },
    Topic.PLAN_GENERATED: {
        "planId": Spec("text", required=True),
        "validatedSkills": Spec("strs", required=True),
        "duration": Spec("int", required=True, low=1),
        "plan": Spec("plan"),
    },
    Topic.APPROVAL_APPROVED: {
        "planId": Spec("text", required=True),
        "approvedBy": Spec("text", required=True),
        "comment": Spec("str"),
    },
    Topic.APPROVAL_REJECTED: {
        "planId": Spec("text", required=True),
        "rejectedBy": Spec("text", required=True),
        "reason": Spec("text", required=True),
        "retry": Spec("bool"),
    },
    Topic.MODIFICATION_REQUESTED: {
        "planId": Spec("text", required=True),
        "requestedBy": Spec("text", required=True),
        "instructions": Spec("text", required=True),
    },
    Topic.INTERVIEW_COMPLETED: {
        "sessionId": Spec("str"),
        "endedAt": Spec("str", required=True),
        "transcript": Spec("objects", required=True, good=st.lists(TRANSCRIPT_LINE, max_size=4)),
    },
    Topic.ASSESSMENT_COMPLETED: {
        "assessmentId": Spec("text", required=True),
        "planId": Spec("text", required=True),
        "overallScore": Spec("int", required=True, low=0, high=100),
        "recommendation": enum("STRONG_HIRE", "HIRE", "MAYBE", "NO_HIRE", required=True),
        "competencyScores": Spec("objects", required=True, good=st.lists(COMPETENCY_SCORE, max_size=3)),
        "summary": Spec("str", required=True),
    },
    Topic.ASSESSMENT_REVIEWED: {
        "assessmentId": Spec("text", required=True),
        "approved": Spec("bool", required=True),
        "reviewedBy": Spec("text", required=True),
        "comment": Spec("str"),
    },
    Topic.CANCEL_REQUESTED: {"cancelledBy": Spec("text", required=True), "reason": Spec("str")},
}
assert set(PAYLOADS) == set(WORKFLOW_TOPICS), "every workflow topic needs its payload spec"


def good_value(spec: Spec) -> st.SearchStrategy[Any]:
    if spec.good is not None:
        return spec.good
    if spec.kind == "str":
        return weird_text()
    if spec.kind == "text":
        return non_empty_text()
    if spec.kind == "int":
        return st.integers(spec.low if spec.low is not None else 0, spec.high if spec.high is not None else 10**6)
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind == "strs":
        return st.lists(weird_text(), max_size=min(spec.max_items or 5, 5))
    if spec.kind == "plan":
        return st.none()  # optional; a generated plan adds nothing the codec tests need
    raise AssertionError(f"no good value for {spec.kind}")


# Values no lax pydantic coercion turns into the kind (e.g. "1" is a fine bool and 2.0 a fine int).
_NOT_A_STRING: st.SearchStrategy[Any] = st.one_of(
    st.integers(-(2**200), 2**200),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.just([]),
    st.just({"a": 1}),
)
_NOT_AN_INT = st.one_of(
    st.text(alphabet="abcxyz!?é ", min_size=1, max_size=10),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)),
    st.just([1]),
    st.just({"n": 1}),
)
_NOT_A_BOOL = st.one_of(
    st.sampled_from(["maybe", "ja", "nope", "2", "", "\u202e"]),
    st.integers().filter(lambda n: n not in (0, 1)),
    st.just([True]),
    st.just({"b": True}),
)
_NOT_A_LIST = st.one_of(weird_text(), st.integers(), st.booleans(), st.just({"0": "a"}))


def wrong_value(spec: Spec) -> st.SearchStrategy[Any]:
    """A value of the wrong type or out of range; for a required field, also null."""
    choices: list[st.SearchStrategy[Any]]
    if spec.kind in ("str", "text"):
        choices = [_NOT_A_STRING]
        if spec.kind == "text":
            choices.append(st.sampled_from(["", "   ", "\t\n"]))  # nothing left once stripped
    elif spec.kind == "int":
        choices = [_NOT_AN_INT]
        if spec.low is not None:
            choices.append(st.integers(max_value=spec.low - 1))
        if spec.high is not None:
            choices.append(st.integers(min_value=spec.high + 1))
    elif spec.kind == "bool":
        choices = [_NOT_A_BOOL]
    elif spec.kind == "enum":
        choices = [weird_text().filter(lambda s: s not in spec.values), st.integers(-(2**60), 2**60)]
    elif spec.kind == "strs":
        choices = [_NOT_A_LIST, st.lists(_NOT_A_STRING, min_size=1, max_size=3)]
        if spec.max_items is not None:
            # Huge arrays: over the limit, short strings so the message stays small.
            choices.append(st.integers(spec.max_items + 1, spec.max_items * 5).map(lambda n: ["s"] * n))
    elif spec.kind == "objects":
        choices = [_NOT_A_LIST, st.lists(st.one_of(st.integers(), weird_text()), min_size=1, max_size=3)]
    elif spec.kind == "plan":
        choices = [_NOT_A_LIST.filter(lambda v: not isinstance(v, dict)), st.just({"planId": "p"})]
    else:
        raise AssertionError(spec.kind)
    if spec.required:
        choices.append(st.none())
    return st.one_of(*choices)


@st.composite
def payloads(draw: st.DrawFn, topic: str) -> dict[str, Any]:
    """A valid payload of ``topic``: every required field, any optional ones, unicode everywhere."""
    document: dict[str, Any] = {}
    for name, spec in PAYLOADS[topic].items():
        if spec.kind != "plan" and (spec.required or draw(st.booleans())):
            document[name] = draw(good_value(spec))
    if topic == Topic.INTERVIEW_COMPLETED:
        document["endedAt"] = draw(timestamps)
    return document


# --- JSON of any shape -----------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    weird_text(),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(weird_text(max_size=10), inner, max_size=4)),
    max_leaves=10,
)


_DEEP = "\x00deep:"  # a placeholder dumps() replaces with that deep a value (json.dumps would recurse)


def nested(depth: int) -> str:
    """A value ``depth`` levels deep (alternating objects and lists), for dumps() to write out."""
    return f"{_DEEP}{depth}"


def _deep_text(depth: int) -> str:
    opening = "".join('{"d":' if level % 2 == 0 else "[" for level in range(depth))
    closing = "".join("}" if level % 2 == 0 else "]" for level in reversed(range(depth)))
    return opening + "1" + closing


def dumps(document: Any) -> bytes:
    """JSON as another producer writes it: unicode as UTF-8 (not escaped), nested() values written out."""
    text = json.dumps(document, ensure_ascii=False)
    marker = json.dumps(_DEEP)[1:-1]  # how the placeholder's NUL looks inside a JSON string
    while (start := text.find(f'"{marker}')) != -1:
        end = text.index('"', start + 1)
        depth = int(text[start + 1 + len(marker) : end])
        text = text[:start] + _deep_text(depth) + text[end + 1 :]
    return text.encode()


def deep_json(depth: int) -> bytes:
    """A JSON array nested ``depth`` deep, as text (json.dumps would recurse)."""
    return b"[" * depth + b"]" * depth


# --- envelopes -------------------------------------------------------------------------------------


@st.composite
def envelopes(
    draw: st.DrawFn, topic: str, tenant: str | None = None, interview_id: str | None = None
) -> dict[str, Any]:
    """A good envelope of ``topic`` (SPEC section 3), with optional fields present or not."""
    document: dict[str, Any] = {
        "eventType": topic,
        "tenantId": tenant if tenant is not None else draw(ids),
        "interviewId": interview_id if interview_id is not None else draw(ids),
        "timestamp": draw(timestamps),
        "payload": draw(payloads(topic)),
    }
    if draw(st.booleans()):
        document["eventId"] = draw(ids)
    if draw(st.booleans()):
        document["runId"] = draw(ids)
    return document


@st.composite
def with_extra_fields(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` plus fields nobody knows yet, at the top and in the payload (ignored, not rejected)."""
    known = {"eventType", "eventId", "tenantId", "runId", "interviewId", "timestamp", "payload"}
    extra = draw(st.dictionaries(weird_text(1, 12).filter(lambda k: k not in known), json_values, max_size=3))
    payload_fields = set(PAYLOADS[document["eventType"]])
    extra_payload = draw(
        st.dictionaries(weird_text(1, 12).filter(lambda k: k not in payload_fields), json_values, max_size=3)
    )
    if draw(st.booleans()):
        extra["deep"] = nested(draw(st.integers(100, 1000)))  # deep, but under orjson's 1024 limit
    return {**extra, **document, "payload": {**extra_payload, **document["payload"]}}


@dataclass
class BadCase:
    """A message that must be dead-lettered: what it is, its bytes and key, and why it is bad."""

    what: str
    value: bytes | None
    key: bytes | None
    reason: Reason
    field: str | None = None  # the field a schema violation must name (a prefix of the error's loc)


def _key_of(document: dict[str, Any]) -> bytes | None:
    interview_id = document.get("interviewId")
    return interview_id.encode() if isinstance(interview_id, str) else None


@st.composite
def bad_messages(draw: st.DrawFn, topic: str, oversize: bool = True, only: str | None = None) -> BadCase:
    """One bad message for ``topic``; the codec must name exactly its reason (and field).

    ``oversize`` False leaves the over-a-mebibyte kind out (slow); ``only`` picks one kind.
    """
    good = draw(envelopes(topic))
    key = _key_of(good)
    kinds = [
        "tombstone", "invalid-utf8", "not-json", "too-deep", "not-an-object", "unknown-event-type",
        "missing-event-type", "wrong-event-type", "missing-tenant", "blank-tenant", "non-string-tenant",
        "missing-envelope-field", "wrong-envelope-field", "bad-timestamp", "payload-not-object",
        "missing-payload-field", "wrong-payload-field", "key-mismatch", "invalid-utf8-key",
    ]  # fmt: skip
    if oversize:
        kinds.append("too-large")
    kind = only or draw(st.sampled_from(kinds))
    if kind == "tombstone":
        return BadCase(kind, None, key, Reason.NOT_JSON)
    if kind == "invalid-utf8":
        # A lone continuation byte, an overlong encoding, or a UTF-16 surrogate in UTF-8, inside a string.
        junk = draw(st.sampled_from([b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xff\xfe", b"\xf8\x88\x80\x80\x80"]))
        text = dumps(good)
        at = draw(st.integers(0, len(text)))
        return BadCase(kind, text[:at] + junk + text[at:], key, Reason.NOT_JSON)
    if kind == "not-json":
        start = draw(st.sampled_from(["{'", "{,", "<", "'", "\x00", '{"a" 1', "NaN", "{eventType:", "undefined"]))
        return BadCase(kind, (start + draw(weird_text())).encode(), key, Reason.NOT_JSON)
    if kind == "too-deep":
        return BadCase(kind, deep_json(draw(st.integers(1025, 3000))), key, Reason.NOT_JSON)
    if kind == "not-an-object":
        value = draw(st.one_of(json_scalars, st.lists(json_values, max_size=3)))
        return BadCase(kind, dumps(value), key, Reason.SCHEMA)
    if kind == "too-large":
        padding = MAX_MESSAGE_BYTES + draw(st.integers(1, 64 * 1024))
        return BadCase(kind, dumps({**good, "padding": "x" * padding}), key, Reason.TOO_LARGE)
    if kind == "unknown-event-type":
        event_type = draw(st.one_of(weird_text(), json_values).filter(lambda v: v not in list(WORKFLOW_TOPICS)))
        return BadCase(kind, dumps({**good, "eventType": event_type}), key, Reason.UNKNOWN_EVENT_TYPE)
    if kind == "missing-event-type":
        document = {k: v for k, v in good.items() if k != "eventType"}
        return BadCase(kind, dumps(document), key, Reason.UNKNOWN_EVENT_TYPE)
    if kind == "wrong-event-type":
        other_topic = draw(st.sampled_from([str(t) for t in WORKFLOW_TOPICS if t != topic]))
        return BadCase(kind, dumps({**good, "eventType": other_topic}), key, Reason.EVENT_TYPE_MISMATCH)
    if kind == "missing-tenant":
        document = {k: v for k, v in good.items() if k != "tenantId"}
        return BadCase(kind, dumps(document), key, Reason.MISSING_TENANT)
    if kind == "blank-tenant":
        blank = draw(st.text(alphabet=" \t\n\r\u00a0\u2003\u3000", max_size=5))
        return BadCase(kind, dumps({**good, "tenantId": blank}), key, Reason.MISSING_TENANT)
    if kind == "non-string-tenant":
        return BadCase(kind, dumps({**good, "tenantId": draw(_NOT_A_STRING)}), key, Reason.MISSING_TENANT)
    if kind == "missing-envelope-field":
        name = draw(st.sampled_from(["interviewId", "timestamp", "payload"]))
        document = {k: v for k, v in good.items() if k != name}
        return BadCase(kind, dumps(document), key, Reason.SCHEMA, field=name)
    if kind == "wrong-envelope-field":
        name = draw(st.sampled_from(["interviewId", "eventId", "runId", "timestamp"]))
        value = draw(
            st.one_of(
                _NOT_A_STRING,
                st.sampled_from(["", "  "]) if name != "timestamp" else _NOT_A_STRING,
                st.just("i" * 201) if name != "timestamp" else _NOT_A_STRING,  # ids are at most 200 characters
            )
        )
        return BadCase(kind, dumps({**good, name: value}), key, Reason.SCHEMA, field=name)
    if kind == "bad-timestamp":
        value = draw(
            st.one_of(
                weird_text().filter(lambda s: not s[:4].isdigit()),
                st.sampled_from(
                    [
                        "2024-01-15T10:01:00",  # no zone
                        "2024-01-15 10:01",  # no zone
                        "2024-13-01T00:00:00Z",
                        "2024-01-15T24:00:00Z",
                        "0001-01-01T00:00:00+01:00",  # out of range once in UTC
                        "9999-12-31T23:59:59-01:00",
                        "yesterday",
                    ]
                ),
            )
        )
        return BadCase(kind, dumps({**good, "timestamp": value}), key, Reason.SCHEMA, field="timestamp")
    if kind == "payload-not-object":
        value = draw(st.one_of(json_scalars, st.lists(json_values, max_size=3)))
        return BadCase(kind, dumps({**good, "payload": value}), key, Reason.SCHEMA, field="payload")
    specs = PAYLOADS[topic]
    if kind == "missing-payload-field":
        required = [name for name, spec in specs.items() if spec.required]
        if not required:  # every field optional: a wrong one instead
            kind = "wrong-payload-field"
        else:
            name = draw(st.sampled_from(required))
            payload = {k: v for k, v in good["payload"].items() if k != name}
            return BadCase(kind, dumps({**good, "payload": payload}), key, Reason.SCHEMA, field=f"payload.{name}")
    if kind == "wrong-payload-field":
        name = draw(st.sampled_from(sorted(specs)))
        value = draw(wrong_value(specs[name]))
        payload = {**good["payload"], name: value}
        return BadCase(kind, dumps({**good, "payload": payload}), key, Reason.SCHEMA, field=f"payload.{name}")
    if kind == "key-mismatch":
        other = draw(ids.filter(lambda k: k != good["interviewId"]))
        return BadCase(kind, dumps(good), other.encode(), Reason.KEY_MISMATCH)
    if kind == "invalid-utf8-key":
        return BadCase(kind, dumps(good), (key or b"") + b"\xff\xfe", Reason.KEY_MISMATCH)
    raise AssertionError(kind)


# --- the ingestion topic ---------------------------------------------------------------------------


@st.composite
def entity_events(draw: st.DrawFn, event_type: str | None = None) -> dict[str, Any]:
    data = draw(st.dictionaries(weird_text(1, 10), json_values, max_size=4))
    data["id"] = draw(ids)
    return {"event_type": event_type if event_type is not None else draw(non_empty_text(30)), "data": data}


@st.composite
def bad_entity_events(draw: st.DrawFn, oversize: bool = True) -> BadCase:
    good = draw(entity_events())
    key = draw(st.one_of(st.none(), st.binary(max_size=20)))  # any key, or none: it is not checked
    kinds = ["tombstone", "not-json", "too-deep", "not-an-object", "missing-event-type", "wrong-event-type",
             "blank-event-type", "long-event-type", "data-not-object", "data-too-deep"]  # fmt: skip
    if oversize:
        kinds.append("too-large")
    kind = draw(st.sampled_from(kinds))
    if kind == "tombstone":
        return BadCase(kind, None, key, Reason.NOT_JSON)
    if kind == "not-json":
        return BadCase(kind, b"{'" + draw(weird_text()).encode(), key, Reason.NOT_JSON)
    if kind == "too-deep":
        return BadCase(kind, deep_json(draw(st.integers(1025, 3000))), key, Reason.NOT_JSON)
    if kind == "not-an-object":
        return BadCase(
            kind, dumps(draw(st.one_of(json_scalars, st.lists(json_values, max_size=3)))), key, Reason.SCHEMA
        )
    if kind == "too-large":
        padding = "x" * (MAX_MESSAGE_BYTES + draw(st.integers(1, 4096)))
        return BadCase(kind, dumps({**good, "data": {"id": "1", "blob": padding}}), key, Reason.TOO_LARGE)
    if kind == "missing-event-type":
        return BadCase(kind, dumps({"data": good["data"]}), key, Reason.SCHEMA, field="event_type")
    if kind == "wrong-event-type":
        return BadCase(kind, dumps({**good, "event_type": draw(_NOT_A_STRING)}), key, Reason.SCHEMA, field="event_type")
    if kind == "blank-event-type":
        blank = draw(st.text(alphabet=" \t\n\u3000", max_size=4))
        return BadCase(kind, dumps({**good, "event_type": blank}), key, Reason.SCHEMA, field="event_type")
    if kind == "long-event-type":
        return BadCase(
            kind,
            dumps({**good, "event_type": "t" * draw(st.integers(201, 2000))}),
            key,
            Reason.SCHEMA,
            field="event_type",
        )
    if kind == "data-not-object":
        value = draw(st.one_of(weird_text(), st.integers(), st.lists(json_scalars, max_size=3)))
        return BadCase(kind, dumps({**good, "data": value}), key, Reason.SCHEMA, field="data")
    if kind == "data-too-deep":
        # Parses (under 1024) but is deeper than a row can be stored or served (JSON encoders stop near 255).
        depth = draw(st.integers(MAX_DATA_DEPTH, 1000))
        return BadCase(kind, dumps({**good, "data": {"id": "1", "x": nested(depth)}}), key, Reason.SCHEMA, field="data")
    raise AssertionError(kind)
