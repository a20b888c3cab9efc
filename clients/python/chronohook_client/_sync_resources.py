"""The API's endpoints, grouped by resource, for ``Client``.

GENERATED from ``_async_resources.py`` by ``python -m chronohook_client._unasync``: do not edit.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import TypeAdapter

from chronohook_client import _http
from chronohook_client._http import Call, query
from chronohook_client.models import (
    Alert,
    AlertDestination,
    BulkReplay,
    CreatedCron,
    Cron,
    CursorPage,
    DeadLetter,
    Job,
    Page,
    Purge,
    PushedBatch,
    PushedJob,
    QuedupJobEvent,
    QuedupRun,
    Queue,
    QueueStats,
    RecuroJob,
    RecuroJobEvent,
    RecuroRun,
    Replayed,
    SigningSecret,
)
from chronohook_client.paging import Paginator, cursor_next, laravel_next, offset_next

M = TypeVar("M")
IDEMPOTENCY_HEADER = "Idempotency-Key"
QUEDUP_LIMIT = 100  # QuedUp's lists: items per request (the API's default; at most 1,000)


def _segment(value: str) -> str:
    """One path segment: a queue name or a job id, percent-encoded (a ``/`` in it stays in the segment)."""
    return quote(str(value), safe="")


def _none(_: Any) -> None:
    return None


def _idempotent(key: str | None) -> dict[str, str]:
    return {} if key is None else {IDEMPOTENCY_HEADER: key}


def _body(**fields: Any) -> dict[str, Any]:
    """A JSON body of the fields given (None: left out, so the server's default applies)."""
    return {k: _wire(v) for k, v in fields.items() if v is not None}


def _names(names: Sequence[str] | None) -> list[str] | None:
    """Header names whose values the server seals and masks, besides its defaults (Authorization, Cookie, ...)."""
    return None if names is None else list(names)


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a time sent to the API must be timezone-aware (RFC 3339 needs its offset)")
        return value.isoformat(timespec="milliseconds")
    return value


def _changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """A PATCH body: every field given is sent, None too (it clears the field where the API allows)."""
    return {k: _wire(v) for k, v in changes.items()}


def _parser(kind: type[M]) -> Callable[[Any], M]:
    return TypeAdapter(kind).validate_python


def _laravel(path: str, kind: Any, per_page: int | None, **filters: Any) -> Any:
    """The call for one Laravel page of ``kind`` items at ``path``."""
    parse = TypeAdapter(Page[kind]).validate_python

    def make_call(page: int) -> Call[Any]:
        return Call("GET", path, parse, params=query(page=page, per_page=per_page, **filters))

    return make_call


def _offset(path: str, kind: Any, limit: int) -> Any:
    parse_items = TypeAdapter(builtins.list[kind]).validate_python

    def make_call(offset: int) -> Call[Any]:
        return Call("GET", path, lambda raw: (offset, parse_items(raw)), params={"limit": limit, "offset": offset})

    return make_call


class _Resource:
    def __init__(self, sender: _http.Sender) -> None:
        self._s = sender


class Jobs(_Resource):
    """Recuro jobs (``/api/jobs``): integer ids, pushed to a named queue."""

    def create(
        self,
        queue: str,
        url: str,
        *,
        method: str | None = None,
        headers: Mapping[str, str] | None = None,
        payload: Any = None,
        callback_url: str | None = None,
        delay: int | None = None,
        run_at: datetime | str | None = None,
        sensitive_headers: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> PushedJob:
        """Push one job: now, after ``delay`` seconds, or at ``run_at``. With ``idempotency_key``, sending it again
        (same key, same fields) answers the first push and creates nothing."""
        body = _body(
            queue=queue,
            url=url,
            method=method,
            headers=headers,
            payload=payload,
            callback_url=callback_url,
            delay=delay,
            run_at=run_at,
            sensitive_headers=_names(sensitive_headers),
        )
        call = Call("POST", "/api/jobs", _parser(PushedJob), json=body, headers=_idempotent(idempotency_key))
        return self._s.send(call)

    def create_many(self, jobs: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None) -> PushedBatch:
        """Push up to 1,000 jobs at once, each shaped as ``create``'s fields: all accepted or none."""
        body = {"jobs": [_body(**job) for job in jobs]}
        call = Call("POST", "/api/jobs/batch", _parser(PushedBatch), json=body, headers=_idempotent(idempotency_key))
        return self._s.send(call)

    def get(self, job_id: int) -> RecuroJob:
        """The job, its status, its retry chain's outcome and its runs."""
        return self._s.send(Call("GET", f"/api/jobs/{int(job_id)}", _parser(RecuroJob)))

    def list(
        self,
        *,
        queue: str | None = None,
        status: str | None = None,
        url: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        per_page: int | None = None,
        max_items: int | None = None,
    ) -> Paginator[RecuroJob]:
        """The tenant's Recuro jobs, newest first, filtered by queue, status, a substring of the URL (any case) and
        creation time (``created_after`` inclusive, ``created_before`` exclusive); every page is followed."""
        parse = _parser(CursorPage[RecuroJob])
        filters = query(
            queue=queue,
            status=status,
            url=url,
            created_after=_wire(created_after),
            created_before=_wire(created_before),
        )

        def make_call(cursor: str) -> Call[Any]:
            params = query(cursor=cursor or None, per_page=per_page) | filters
            return Call("GET", "/api/jobs", parse, params=params)

        return Paginator(self._s, make_call, cursor_next, "", max_items)

    def runs(self, job_id: int, *, per_page: int | None = None, max_items: int | None = None) -> Paginator[RecuroRun]:
        """The runs of the job and of its retries, newest first."""
        make_call = _laravel(f"/api/jobs/{int(job_id)}/runs", RecuroRun, per_page)
        return Paginator(self._s, make_call, laravel_next, 1, max_items)

    def events(
        self, job_id: int, *, per_page: int | None = None, max_items: int | None = None
    ) -> Paginator[RecuroJobEvent]:
        """The job's history, oldest first (kept after a delete)."""
        make_call = _laravel(f"/api/jobs/{int(job_id)}/events", RecuroJobEvent, per_page)
        return Paginator(self._s, make_call, laravel_next, 1, max_items)


class QuedUp(_Resource):
    """QuedUp jobs (``/jobs``): ``job_...`` ids, named, one-off or on a schedule."""

    def create(
        self,
        name: str,
        url: str,
        *,
        method: str = "POST",
        body: str | None = None,
        headers: Mapping[str, str] | None = None,
        run_at: datetime | str | None = None,
        schedule: str | None = None,
        timezone: str | None = None,
        catch_up: str | None = None,
        sensitive_headers: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Create a job: now, at ``run_at``, or on ``schedule`` (cron, in ``timezone``)."""
        fields = _body(
            name=name,
            url=url,
            method=method,
            body=body,
            headers=headers,
            run_at=run_at,
            schedule=schedule,
            timezone=timezone,
            catch_up=catch_up,
            sensitive_headers=_names(sensitive_headers),
        )
        call = Call("POST", "/jobs", _parser(Job), json=fields, headers=_idempotent(idempotency_key))
        return self._s.send(call)

    def list(self, *, limit: int = QUEDUP_LIMIT, max_items: int | None = None) -> Paginator[Job]:
        """The tenant's QuedUp jobs, oldest first; every page is followed (``limit`` per request)."""
        return Paginator(self._s, _offset("/jobs", Job, limit), offset_next(limit), 0, max_items)

    def get(self, job_id: str) -> Job:
        return self._s.send(Call("GET", f"/jobs/{_segment(job_id)}", _parser(Job)))

    def update(self, job_id: str, **changes: Any) -> Job:
        """Change any of the create fields (PATCH); None clears ``body``, ``run_at`` or ``schedule``."""
        return self._s.send(Call("PATCH", f"/jobs/{_segment(job_id)}", _parser(Job), json=_changes(changes)))

    def replace(self, job_id: str, name: str, url: str, *, method: str = "POST", **fields: Any) -> Job:
        """Replace the whole definition (PUT); fields left out are cleared."""
        body = _body(name=name, url=url, method=method, **fields)
        return self._s.send(Call("PUT", f"/jobs/{_segment(job_id)}", _parser(Job), json=body))

    def delete(self, job_id: str) -> None:
        self._s.send(Call("DELETE", f"/jobs/{_segment(job_id)}", _none))

    def pause(self, job_id: str) -> Job:
        return self._s.send(Call("POST", f"/jobs/{_segment(job_id)}/pause", _parser(Job)))

    def resume(self, job_id: str) -> Job:
        return self._s.send(Call("POST", f"/jobs/{_segment(job_id)}/resume", _parser(Job)))

    def runs(self, job_id: str, *, limit: int = QUEDUP_LIMIT, max_items: int | None = None) -> Paginator[QuedupRun]:
        make_call = _offset(f"/jobs/{_segment(job_id)}/runs", QuedupRun, limit)
        return Paginator(self._s, make_call, offset_next(limit), 0, max_items)

    def events(
        self, job_id: str, *, limit: int = QUEDUP_LIMIT, max_items: int | None = None
    ) -> Paginator[QuedupJobEvent]:
        make_call = _offset(f"/jobs/{_segment(job_id)}/events", QuedupJobEvent, limit)
        return Paginator(self._s, make_call, offset_next(limit), 0, max_items)


class Queues(_Resource):
    """Recuro queues (``/api/queues``), by name."""

    def list(self, *, per_page: int | None = None, max_items: int | None = None) -> Paginator[Queue]:
        return Paginator(self._s, _laravel("/api/queues", Queue, per_page), laravel_next, 1, max_items)

    def get(self, name: str) -> Queue:
        return self._s.send(Call("GET", f"/api/queues/{_segment(name)}", _parser(Queue)))

    def stats(self, name: str, *, window_s: int | None = None) -> QueueStats:
        """Its jobs counted by status, and its runs over the last ``window_s`` seconds (default 3600, at most 86400):
        runs, successes, failures, runs per minute, lateness percentiles in milliseconds."""
        params = query(window_s=window_s)
        return self._s.send(Call("GET", f"/api/queues/{_segment(name)}/stats", _parser(QueueStats), params=params))

    def update(self, name: str, **changes: Any) -> Queue:
        """Change its settings (``timeout_seconds``, ``retry_delays``, ``max_parallelism``, ...); a queue never pushed
        to is created with them."""
        return self._s.send(Call("PATCH", f"/api/queues/{_segment(name)}", _parser(Queue), json=_changes(changes)))

    def pause(self, name: str) -> Queue:
        return self.update(name, is_active=False)

    def resume(self, name: str) -> Queue:
        return self.update(name, is_active=True)

    def delete(self, name: str) -> None:
        """Delete an empty queue (a 409 ``ConflictError`` while it holds jobs)."""
        self._s.send(Call("DELETE", f"/api/queues/{_segment(name)}", _none))


class Crons(_Resource):
    """Recuro crons (``/api/crons``): integer ids."""

    def create(
        self,
        name: str,
        url: str,
        cron_expression: str,
        *,
        timezone: str | None = None,
        catch_up: str | None = None,
        method: str | None = None,
        headers: Mapping[str, str] | None = None,
        payload: str | None = None,
        callback_url: str | None = None,
        timeout_seconds: int | None = None,
        alert_threshold: int | None = None,
        success_assertions: Sequence[Mapping[str, str]] | None = None,
        is_active: bool | None = None,
        sensitive_headers: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> CreatedCron:
        body = _body(
            name=name,
            url=url,
            cron_expression=cron_expression,
            timezone=timezone,
            catch_up=catch_up,
            method=method,
            headers=headers,
            payload=payload,
            callback_url=callback_url,
            timeout_seconds=timeout_seconds,
            alert_threshold=alert_threshold,
            success_assertions=None if success_assertions is None else [dict(a) for a in success_assertions],
            is_active=is_active,
            sensitive_headers=_names(sensitive_headers),
        )
        call = Call("POST", "/api/crons", _parser(CreatedCron), json=body, headers=_idempotent(idempotency_key))
        return self._s.send(call)

    def list(self, *, per_page: int | None = None, max_items: int | None = None) -> Paginator[Cron]:
        return Paginator(self._s, _laravel("/api/crons", Cron, per_page), laravel_next, 1, max_items)

    def get(self, cron_id: int) -> Cron:
        return self._s.send(Call("GET", f"/api/crons/{int(cron_id)}", _parser(Cron)))

    def update(self, cron_id: int, **changes: Any) -> Cron:
        """Change any create field (PATCH); ``is_active`` pauses or resumes."""
        call = Call("PATCH", f"/api/crons/{int(cron_id)}", _parser(Cron), json=_changes(changes))
        return self._s.send(call)

    def pause(self, cron_id: int) -> Cron:
        return self.update(cron_id, is_active=False)

    def resume(self, cron_id: int) -> Cron:
        return self.update(cron_id, is_active=True)

    def delete(self, cron_id: int) -> None:
        self._s.send(Call("DELETE", f"/api/crons/{int(cron_id)}", _none))

    def runs(self, cron_id: int, *, per_page: int | None = None, max_items: int | None = None) -> Paginator[RecuroRun]:
        make_call = _laravel(f"/api/crons/{int(cron_id)}/runs", RecuroRun, per_page)
        return Paginator(self._s, make_call, laravel_next, 1, max_items)

    def events(
        self, cron_id: int, *, per_page: int | None = None, max_items: int | None = None
    ) -> Paginator[RecuroJobEvent]:
        make_call = _laravel(f"/api/crons/{int(cron_id)}/events", RecuroJobEvent, per_page)
        return Paginator(self._s, make_call, laravel_next, 1, max_items)


class DeadLetters(_Resource):
    """Recuro dead letters (``/api/dead-letters``): jobs whose retries ran out."""

    def list(
        self, *, queue: str | None = None, per_page: int | None = None, max_items: int | None = None
    ) -> Paginator[DeadLetter]:
        make_call = _laravel("/api/dead-letters", DeadLetter, per_page, queue=queue)
        return Paginator(self._s, make_call, laravel_next, 1, max_items)

    def replay(self, job_id: int) -> Replayed:
        """Replay one as a fresh job (a 409 ``ConflictError`` if it was replayed already)."""
        return self._s.send(Call("POST", f"/api/dead-letters/{int(job_id)}/replay", _parser(Replayed)))

    def replay_many(self, *, queue: str | None = None, job_ids: Sequence[int] | None = None) -> BulkReplay:
        """One call: a queue's oldest (up to 1,000; ``remaining`` says how many are left) or the listed ids."""
        body = _body(queue=queue, job_ids=None if job_ids is None else [int(i) for i in job_ids])
        return self._s.send(Call("POST", "/api/dead-letters/replay", _parser(BulkReplay), json=body))

    def delete(self, job_id: int) -> None:
        self._s.send(Call("DELETE", f"/api/dead-letters/{int(job_id)}", _none))

    def purge(self, queue: str) -> Purge:
        """One call: delete a queue's oldest dead letters (up to 1,000; ``remaining`` says how many are left)."""
        return self._s.send(Call("DELETE", "/api/dead-letters", _parser(Purge), params={"queue": queue}))


class SigningSecretResource(_Resource):
    """The tenant's signing secret (``/api/signing-secret``): what ``verify_webhook`` needs."""

    def get(self) -> SigningSecret:
        return self._s.send(Call("GET", "/api/signing-secret", _parser(SigningSecret)))

    def rotate(self, *, grace_seconds: int | None = None) -> SigningSecret:
        """A new secret; the old one keeps signing beside it for ``grace_seconds`` (24 h by default, at most)."""
        call = Call(
            "POST", "/api/signing-secret/rotate", _parser(SigningSecret), json=_body(grace_seconds=grace_seconds)
        )
        return self._s.send(call)

    def update(
        self, *, recuro_compat: bool | None = None, secret: str | None = None, grace_seconds: int | None = None
    ) -> SigningSecret:
        """Switch Recuro's signature pair on or off, and/or import a secret your receivers already verify."""
        body = _body(recuro_compat=recuro_compat, secret=secret, grace_seconds=grace_seconds)
        return self._s.send(Call("PUT", "/api/signing-secret", _parser(SigningSecret), json=body))


class Alerts(_Resource):
    """Alerts raised by crons and queues, and where they are sent (``/api/alerts``, ``/api/alert-destination``)."""

    def list(
        self,
        *,
        queue: str | None = None,
        cron_id: int | None = None,
        per_page: int | None = None,
        max_items: int | None = None,
    ) -> Paginator[Alert]:
        make_call = _laravel("/api/alerts", Alert, per_page, queue=queue, cron_id=cron_id)
        return Paginator(self._s, make_call, laravel_next, 1, max_items)

    def destination(self) -> AlertDestination:
        """Where alerts go (a 404 ``NotFoundError`` when none is set)."""
        return self._s.send(Call("GET", "/api/alert-destination", _parser(AlertDestination)))

    def set_destination(self, url: str, *, format: str | None = None) -> AlertDestination:
        body = _body(url=url, format=format)
        return self._s.send(Call("PUT", "/api/alert-destination", _parser(AlertDestination), json=body))

    def delete_destination(self) -> None:
        self._s.send(Call("DELETE", "/api/alert-destination", _none))
