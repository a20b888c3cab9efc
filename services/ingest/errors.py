"""Ingest's errors, and how each API family shapes them.

* Recuro (``/api/...``): Laravel's ``{"message": ..., "errors": {field: [...]}}``; auth errors ``{"error": ...}``.
* QuedUp (``/jobs...``): ``{"error": ..., "errors": {field: [...]}}`` (QuedUp documents no error body; this keeps
  Recuro's ``error`` key so one client parser reads both).

The shapes are made here only: by the exception handlers, and by ``send_error`` for the ASGI middlewares (token,
body size) that answer before the app runs.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import Send

from chronohook.errors import ChronohookError


class IngestError(ChronohookError):
    status_code = 400

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class Unauthorized(IngestError):
    status_code = 401


MISSING_TOKEN = "Missing authorization token"
INVALID_TOKEN = "Invalid authorization token"


class NotFound(IngestError):
    status_code = 404


class Conflict(IngestError):
    status_code = 409


class PayloadTooLarge(IngestError):
    status_code = 413


class InvalidInput(IngestError):
    status_code = 422


class TooManyRequests(IngestError):
    """A tenant's creation rate or pending-job cap: nothing was accepted; try again after ``retry_after`` seconds."""

    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class Unavailable(IngestError):
    """The broker (or the token store) did not answer: nothing was accepted."""

    status_code = 503


def is_recuro(path: str) -> bool:
    return path.startswith("/api/")


def error_body(path: str, error: IngestError) -> dict[str, Any]:
    if isinstance(error, Unauthorized):
        return {"error": error.message}
    if is_recuro(path):
        body: dict[str, Any] = {"message": error.message}
        if error.errors is not None:
            body["errors"] = error.errors
        return body
    body = {"error": error.message}
    if error.errors is not None:
        body["errors"] = error.errors
    return body


def error_headers(error: IngestError) -> dict[str, str]:
    if isinstance(error, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(error, TooManyRequests):
        return {"Retry-After": str(error.retry_after)}
    return {}


async def handle_ingest_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IngestError)
    return JSONResponse(error_body(request.url.path, exc), status_code=exc.status_code, headers=error_headers(exc))


async def handle_node_lease_error(request: Request, exc: Exception) -> JSONResponse:
    """This process may not mint ids right now (its node-id lease lapsed or was lost): nothing was accepted."""
    error = Unavailable(f"This API process cannot mint job ids at the moment, nothing was accepted: {exc}")
    return await handle_ingest_error(request, error)


async def send_error(path: str, error: IngestError, send: Send) -> None:
    """The same answer as ``handle_ingest_error``, from an ASGI middleware (before the app has read the body)."""
    body = json.dumps(error_body(path, error)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error_headers(error).items()]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- the shapes, as documented in OpenAPI (``responses=`` of the routers) ------------------------------------------
FieldErrors = dict[str, list[str]]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthErrorBody(_Shape):
    """401, both families: ``{"error": "Missing authorization token"}`` or ``"Invalid authorization token"``."""

    error: str = Field(examples=["Missing authorization token"])


class QuedUpErrorBody(_Shape):
    """QuedUp's 404, 405, 413, 503."""

    error: str


class QuedUpInvalidBody(_Shape):
    """QuedUp's 409 and 422: the first message, and every message by field."""

    error: str = Field(examples=["The name field is required."])
    errors: FieldErrors = Field(examples=[{"name": ["The name field is required."]}])


class RecuroErrorBody(_Shape):
    """Recuro's 404, 405, 413, 503, as Laravel answers them."""

    message: str


class RecuroInvalidBody(_Shape):
    """Recuro's 422, Laravel's validation error."""

    message: str = Field(examples=["The queue field is required."])
    errors: FieldErrors = Field(examples=[{"queue": ["The queue field is required."]}])


Responses = dict[int | str, dict[str, Any]]
UNAVAILABLE = "The job log (or the token store) did not answer; nothing was accepted"
UNAUTHORIZED = "Missing, invalid or revoked token (a token longer than 256 characters is invalid)"
LIMITED = (
    "Creates only: the tenant's creation rate (token bucket) or pending-job cap is reached; nothing was accepted. "
    "`Retry-After` gives the seconds to wait."
)
QUEDUP_RESPONSES: Responses = {
    401: {"model": AuthErrorBody, "description": UNAUTHORIZED},
    404: {"model": QuedUpErrorBody, "description": "No such job for this tenant"},
    413: {"model": QuedUpErrorBody, "description": "The body is larger than the limit (1 MiB by default)"},
    422: {"model": QuedUpInvalidBody, "description": "Invalid input"},
    429: {"model": QuedUpErrorBody, "description": LIMITED},
    503: {"model": QuedUpErrorBody, "description": UNAVAILABLE},
}
RECURO_RESPONSES: Responses = {
    401: {"model": AuthErrorBody, "description": UNAUTHORIZED},
    413: {"model": RecuroErrorBody, "description": "The body is larger than the limit (1 MiB by default)"},
    422: {"model": RecuroInvalidBody, "description": "Laravel-style validation error"},
    429: {"model": RecuroErrorBody, "description": LIMITED},
    503: {"model": RecuroErrorBody, "description": UNAVAILABLE},
}


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def invalid_input(errors: dict[str, list[str]]) -> InvalidInput:
    """Laravel's summary: the first message, then `` (and N more error[s])``."""
    first = next(iter(errors.values()))[0]
    extra = sum(len(v) for v in errors.values()) - 1
    message = first if extra == 0 else f"{first} (and {extra} more error{'s' if extra > 1 else ''})"
    return InvalidInput(message, errors)


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    from services.ingest.validation import BODY_MESSAGE, laravel_errors

    # The token was checked before the body was read (services/ingest/auth.py): an input error comes after it.
    assert isinstance(exc, RequestValidationError)
    errors = laravel_errors(exc.errors()) or {"body": [BODY_MESSAGE]}
    return await handle_ingest_error(request, invalid_input(errors))


async def handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Routing errors (unknown path, wrong method) in the family's shape too."""
    from services.ingest.validation import BODY_MESSAGE

    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's own 400 is a body it could not read (e.g. JSON that is not UTF-8): the same 422 as malformed JSON.
        return await handle_ingest_error(request, invalid_input({"body": [BODY_MESSAGE]}))
    error = IngestError(str(exc.detail))
    error.status_code = exc.status_code
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette's Allow names the methods of the first route on the path only (PUT /jobs: "POST", not "GET, POST")
        headers["Allow"] = ", ".join(allowed_methods(request.app.router.routes, request.url.path))
    return JSONResponse(error_body(request.url.path, error), status_code=exc.status_code, headers=headers)


def allowed_methods(routes: list[BaseRoute], path: str) -> list[str]:
    """Every method some route takes on ``path``: each is asked whether it would fully match that request."""
    allowed = []
    for method in METHODS:
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return allowed
