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
from starlette.exceptions import HTTPException as StarletteHTTPException

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


PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/redoc", "/openapi.json"})


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    from services.ingest.context import authenticate
    from services.ingest.validation import laravel_errors

    assert isinstance(exc, RequestValidationError)
    if request.url.path not in PUBLIC_PATHS:
        # FastAPI parses the body before it resolves dependencies; like Recuro, answer a missing or bad token
        # first, so an unauthenticated caller learns nothing about the input rules.
        try:
            await authenticate(request.app.state.ctx, request.headers.get("authorization"))
        except Unauthorized as unauthorized:
            return await handle_ingest_error(request, unauthorized)
    errors = laravel_errors(exc.errors())
    first = next(iter(errors.values()))[0]
    extra = sum(len(v) for v in errors.values()) - 1
    message = first if extra == 0 else f"{first} (and {extra} more error{'s' if extra > 1 else ''})"
    return await handle_ingest_error(request, InvalidInput(message, errors))


async def handle_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Routing errors (unknown path, wrong method) in the family's shape too."""
    assert isinstance(exc, StarletteHTTPException)
    error = IngestError(str(exc.detail))
    error.status_code = exc.status_code
    return JSONResponse(error_body(request.url.path, error), status_code=exc.status_code, headers=exc.headers)
