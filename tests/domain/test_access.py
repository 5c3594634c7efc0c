"""Candidate access links: signed, expiring, checkable without the worker."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.access import (
    AccessLinkSettings,
    ExpiredAccessToken,
    InvalidAccessToken,
    issue_access_link,
    verify_access_token,
)
from models.base import parse_timestamp

SETTINGS = AccessLinkSettings(secret="edge-shared-secret", base_url="https://edge.example.com/join/")
NOW = "2024-01-15T10:01:00.000Z"


def link(ttl_days: int = 7):  # type: ignore[no-untyped-def]
    return issue_access_link(
        SETTINGS, interview_id="iv-1", tenant_id="acme", plan_id="plan-1", ttl_days=ttl_days, now=NOW
    )


def test_link_verifies_until_it_expires() -> None:
    issued = link(ttl_days=2)
    assert issued.url == f"https://edge.example.com/join/{issued.token}"
    assert parse_timestamp(issued.expires_at) == parse_timestamp(NOW) + timedelta(days=2)

    claims = verify_access_token(issued.token, secret=SETTINGS.secret, now=parse_timestamp(NOW) + timedelta(days=1))
    assert (claims.interview_id, claims.tenant_id, claims.plan_id) == ("iv-1", "acme", "plan-1")

    with pytest.raises(ExpiredAccessToken):
        verify_access_token(issued.token, secret=SETTINGS.secret, now=parse_timestamp(NOW) + timedelta(days=2))


def test_same_inputs_give_the_same_link() -> None:
    assert link() == link()


@pytest.mark.parametrize("tamper", ["claims", "signature", "secret", "shape"])
def test_tampered_tokens_are_refused(tamper: str) -> None:
    token = link().token
    claims, signature = token.split(".")
    secret = SETTINGS.secret
    if tamper == "claims":
        token = claims[:-2] + ("AA" if claims[-2:] != "AA" else "BB") + "." + signature
    elif tamper == "signature":
        token = claims + "." + signature[::-1]
    elif tamper == "secret":
        secret = "another-secret"
    else:
        token = claims
    with pytest.raises(InvalidAccessToken):
        verify_access_token(token, secret=secret, now=parse_timestamp(NOW))
