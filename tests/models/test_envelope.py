"""derived_id: the follow-on eventIds that make redelivery safe must never change across releases."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from models.envelope import ID_NAMESPACE, derived_id


@given(st.lists(st.one_of(st.text(), st.integers()), min_size=1, max_size=5))
def test_derived_id_is_uuid5_of_the_joined_parts(parts: list[object]) -> None:
    expected = uuid.uuid5(ID_NAMESPACE, "\x1f".join(str(part) for part in parts))
    assert derived_id(*parts) == str(expected)
    assert uuid.UUID(derived_id(*parts)).version == 5


def test_derived_id_is_pinned() -> None:
    # An input redelivered after an upgrade must still map to the follow-on ids it got before.
    assert derived_id("position", "plan.generated", 2, 17) == "a388399e-e73b-5e5c-b7b3-684cd79f3bff"
    assert derived_id("deadletter", "t", 0, 0) == "aa8fb01d-b6f6-5ecf-9780-cd46f324c054"
