"""Ingest's errors, and how each API family shapes them.

* Recuro (``/api/...``): Laravel's ``{"message": ..., "errors": {field: [...]}}``; auth errors ``{"error": ...}``.
* QuedUp (``/jobs...``): ``{"error": ..., "errors": {field: [...]}}`` (QuedUp documents no error body; this keeps
  Recuro's ``error`` key so one client parser reads both).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from chronohook.errors import ChronohookError


class IngestError(ChronohookError):
    status_code = 400

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class Unauthorized(IngestError):
    status_code = 401


class NotFound(IngestError):
    status_code = 404


class Conflict(IngestError):
    status_code = 409


class PayloadTooLarge(IngestError):
    status_code = 413


class InvalidInput(IngestError):
    status_code = 422


class Unavailable(IngestError):
    """The broker did not acknowledge: nothing was accepted."""

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


async def handle_ingest_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IngestError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return JSONResponse(error_body(request.url.path, exc), status_code=exc.status_code, headers=headers)


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
UNAVAILABLE = "The job log did not acknowledge; nothing was accepted"
QUEDUP_RESPONSES: Responses = {
    401: {"model": AuthErrorBody, "description": "Missing or invalid token"},
    404: {"model": QuedUpErrorBody, "description": "No such job for this tenant"},
    413: {"model": QuedUpErrorBody, "description": "The body is larger than the limit (1 MiB by default)"},
    422: {"model": QuedUpInvalidBody, "description": "Invalid input"},
    503: {"model": QuedUpErrorBody, "description": UNAVAILABLE},
}
RECURO_RESPONSES: Responses = {
    401: {"model": AuthErrorBody, "description": "Missing or invalid token"},
    413: {"model": RecuroErrorBody, "description": "The body is larger than the limit (1 MiB by default)"},
    422: {"model": RecuroInvalidBody, "description": "Laravel-style validation error"},
    503: {"model": RecuroErrorBody, "description": UNAVAILABLE},
}


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/redoc", "/openapi.json"})


async def _unauthorized(request: Request) -> JSONResponse | None:
    """The 401 for a missing or bad token on a protected path, else None.

    FastAPI parses the body before it resolves dependencies; like Recuro, answer a missing or bad token first, so an
    unauthenticated caller learns nothing about the input rules.
    """
    from services.ingest.context import authenticate

    if request.url.path in PUBLIC_PATHS:
        return None
    try:
        await authenticate(request.app.state.ctx, request.headers.get("authorization"))
    except Unauthorized as unauthorized:
        return await handle_ingest_error(request, unauthorized)
    return None


def invalid_input(errors: dict[str, list[str]]) -> InvalidInput:
    """Laravel's summary: the first message, then `` (and N more error[s])``."""
    first = next(iter(errors.values()))[0]
    extra = sum(len(v) for v in errors.values()) - 1
    message = first if extra == 0 else f"{first} (and {extra} more error{'s' if extra > 1 else ''})"
    return InvalidInput(message, errors)


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    from services.ingest.validation import BODY_MESSAGE, laravel_errors

    assert isinstance(exc, RequestValidationError)
    if (unauthorized := await _unauthorized(request)) is not None:
        return unauthorized
    errors = laravel_errors(exc.errors()) or {"body": [BODY_MESSAGE]}
    return await handle_ingest_error(request, invalid_input(errors))


async def handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Routing errors (unknown path, wrong method) in the family's shape too."""
    from services.ingest.validation import BODY_MESSAGE

    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's own 400 is a body it could not read (e.g. JSON that is not UTF-8): the same 422 as malformed
        # JSON, and after the token check like every input error.
        if (unauthorized := await _unauthorized(request)) is not None:
            return unauthorized
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
