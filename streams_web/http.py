"""Request parsing, auth and JSON errors shared by every view."""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ValidationError

from app.publish import EventTooLarge
from app.settings import settings
from domain.tenants import TenantSettings
from models.codec import MAX_MESSAGE_BYTES, field_errors

log = logging.getLogger(__name__)


class _MalformedRequests(logging.Filter):
    """aiohttp logs a request it cannot parse at ERROR, with a traceback quoting the first 100 bytes
    of the offending line: a header's value (an X-API-Key) or a query string (a ?token=). It is the
    client's error, so one warning naming its kind, and none of its content."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "refused a malformed request from %s: %s (HTTP %s)"
            record.args = (remote, type(error).__name__, error.code)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


logging.getLogger("aiohttp.server").addFilter(_MalformedRequests())
RAW_BODY = "interview_streams.raw_body"
ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_BODY_BYTES = MAX_MESSAGE_BYTES


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": _ERROR_NAMES.get(status, "error"), "message": message, **extra}


_ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    503: "unavailable",
}


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


Handler = Callable[..., Awaitable[web.StreamResponse]]


def api(handler: Handler) -> Handler:
    """Turn ApiError into its JSON response, and a bug into a JSON 500 that is logged."""

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> web.StreamResponse:
        try:
            try:
                return await handler(*args, **kwargs)
            except EventTooLarge as exc:
                raise ApiError(413, str(exc)) from None
            except web.HTTPException as exc:  # aiohttp's own (e.g. a body over client_max_size), still JSON
                raise ApiError(exc.status, exc.reason) from None
        except ApiError as exc:
            return json_response(exc.body, exc.status)
        except Exception:
            log.exception("request failed in %s", handler.__qualname__)
            return json_response({"error": "internal", "message": "internal error; see the worker log"}, 500)

    return wrapper


def authenticate(request: web.Request) -> tuple[str, TenantSettings]:
    tenant_id = request.headers.get("X-Tenant-ID")
    tenant = settings.tenants.authenticate(tenant_id, request.headers.get("X-API-Key"))
    if tenant is None or tenant_id is None:
        raise ApiError(401, "missing or wrong X-API-Key / X-Tenant-ID")
    return tenant_id, tenant


def is_admin(request: web.Request) -> bool:
    """X-API-Key is ADMIN_API_KEY (constant-time compare)."""
    return hmac.compare_digest(request.headers.get("X-API-Key", "").encode(), settings.admin_api_key.encode())


def authenticate_admin(request: web.Request) -> None:
    """Admin paths: X-API-Key must be ADMIN_API_KEY (no tenant header needed); a tenant's key is 403."""
    if is_admin(request):
        return
    if settings.tenants.authenticate(request.headers.get("X-Tenant-ID"), request.headers.get("X-API-Key")):
        raise ApiError(403, "admin endpoint: a tenant's X-API-Key is not accepted, only the admin key")
    raise ApiError(401, "missing or wrong admin X-API-Key")


async def read_body(request: web.Request) -> bytes:
    """The raw body, at most MAX_BODY_BYTES: 413 naming the limit, whether or not Content-Length is sent."""
    too_large = ApiError(413, f"body over {MAX_BODY_BYTES} bytes", limitBytes=MAX_BODY_BYTES)
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large
    # content.read(n) answers with whatever has arrived, so read until the end (or the limit).
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(MAX_BODY_BYTES + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
    return b"".join(chunks)


async def read_model(request: web.Request, model: type[ModelT]) -> ModelT:
    """The JSON body as ``model``: 413 over the size limit, 400 naming each failing field."""
    raw = await read_body(request)
    request[RAW_BODY] = raw  # kept for forwarding to the worker that owns the interview
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ApiError(400, "body must be a JSON object", fields=[{"field": "(body)", "message": "not an object"}])
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise ApiError(400, "invalid request body", fields=field_errors(exc)) from None
