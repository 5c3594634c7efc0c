"""Candidate access links: a signed, expiring token the interview edge can check offline.

The token is ``<claims>.<signature>``, both base64url without padding; the signature is
HMAC-SHA256 of the claims part with the access-link secret the edge shares with the workers.
It carries the interview and plan it admits to, so a revised plan needs a new link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from pydantic import ValidationError

from models.base import WireModel, parse_timestamp, utc_timestamp


@dataclass(frozen=True)
class AccessLinkSettings:
    """The secret shared with the interview edge, and where the edge serves candidates."""

    secret: str = "dev-access-link-secret-change-me"
    base_url: str = "http://localhost:3000/join"

    def __repr__(self) -> str:  # the secret never reaches a log line
        return f"AccessLinkSettings(base_url={self.base_url!r})"


class AccessClaims(WireModel):
    interview_id: str
    tenant_id: str
    plan_id: str
    expires_at: str


class AccessLink(WireModel):
    url: str
    token: str
    expires_at: str


class InvalidAccessToken(ValueError):
    """Not a token this secret signed (malformed or tampered)."""


class ExpiredAccessToken(ValueError):
    """A genuine token whose expiry has passed."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, claims_part: str) -> str:
    return _b64(hmac.new(secret.encode(), claims_part.encode(), hashlib.sha256).digest())


def issue_access_link(
    settings: AccessLinkSettings, *, interview_id: str, tenant_id: str, plan_id: str, ttl_days: int, now: str
) -> AccessLink:
    """A link valid for ``ttl_days`` from ``now`` (the envelope timestamp of the approving step)."""
    expires_at = utc_timestamp(parse_timestamp(now) + timedelta(days=ttl_days))
    claims = AccessClaims(interview_id=interview_id, tenant_id=tenant_id, plan_id=plan_id, expires_at=expires_at)
    claims_part = _b64(orjson.dumps(claims.to_wire()))
    token = f"{claims_part}.{_sign(settings.secret, claims_part)}"
    return AccessLink(url=f"{settings.base_url.rstrip('/')}/{token}", token=token, expires_at=expires_at)


def verify_access_token(token: str, *, secret: str, now: datetime) -> AccessClaims:
    """The claims of a genuine, unexpired token; InvalidAccessToken or ExpiredAccessToken otherwise."""
    claims_part, dot, given = token.partition(".")
    if not dot or not hmac.compare_digest(given, _sign(secret, claims_part)):
        raise InvalidAccessToken("access token signature does not match")
    try:
        claims = AccessClaims.model_validate_json(_unb64(claims_part))
    except (ValueError, ValidationError):
        raise InvalidAccessToken("access token claims are malformed") from None
    if parse_timestamp(claims.expires_at) <= now:
        raise ExpiredAccessToken(f"access token expired at {claims.expires_at}")
    return claims


class StreamClaims(WireModel):
    tenant_id: str
    expires_at: str


def issue_stream_token(
    settings: AccessLinkSettings, *, tenant_id: str, now: datetime, ttl_seconds: int
) -> tuple[str, str]:
    """(token, expiresAt): short-lived, for ``?token=`` on SSE paths, since a browser EventSource
    cannot send headers. Marked as a stream token so a candidate's access token is never one."""
    expires_at = utc_timestamp(now + timedelta(seconds=ttl_seconds))
    claims_part = _b64(
        orjson.dumps({"stream": True, **StreamClaims(tenant_id=tenant_id, expires_at=expires_at).to_wire()})
    )
    return f"{claims_part}.{_sign(settings.secret, claims_part)}", expires_at


def verify_stream_token(token: str, *, secret: str, now: datetime) -> StreamClaims:
    """The claims of a genuine, unexpired stream token; InvalidAccessToken or ExpiredAccessToken otherwise."""
    claims_part, dot, given = token.partition(".")
    if not dot or not hmac.compare_digest(given, _sign(secret, claims_part)):
        raise InvalidAccessToken("stream token signature does not match")
    try:
        document = orjson.loads(_unb64(claims_part))
        if not (isinstance(document, dict) and document.get("stream") is True):
            raise ValueError("not a stream token")
        claims = StreamClaims.model_validate(document)
    except (ValueError, ValidationError):
        raise InvalidAccessToken("stream token claims are malformed") from None
    if parse_timestamp(claims.expires_at) <= now:
        raise ExpiredAccessToken(f"stream token expired at {claims.expires_at}")
    return claims
