"""``chronohook jobs list|get|create|delete|pause|resume``: both job APIs, told apart by their ids.

A Recuro job has an integer id (``244862754729984``) and lives in a queue; a QuedUp job has a ``job_...`` id and a
name. ``get`` reads either by its id; ``create`` makes a Recuro job with ``--queue`` and a QuedUp one with ``--name``;
``list`` lists both (``--api`` narrows it; ``--queue`` and ``--status`` filter Recuro jobs).
``delete``, ``pause`` and ``resume`` are QuedUp's: Recuro jobs have no such endpoints (pause their queue with
``chronohook queues pause``; delete a dead one with ``chronohook dead-letters purge``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from chronohook.commands.api import (
    Exit,
    Json,
    Token,
    Url,
    client,
    emit_json,
    fail,
    parse_headers,
    parse_json,
    plain,
    show,
    table,
)

app = typer.Typer(help="Jobs of both APIs: Recuro's (integer ids, in queues) and QuedUp's (job_... ids, named).")


class Api(StrEnum):
    quedup = "quedup"
    recuro = "recuro"


QUEDUP_COLUMNS = [
    ("id", lambda j: j.id),
    ("name", lambda j: j.name),
    ("status", lambda j: j.status),
    ("schedule", lambda j: j.schedule),
    ("next_run_at", lambda j: j.next_run_at),
    ("url", lambda j: j.url),
]
RECURO_COLUMNS = [
    ("id", lambda j: j.id),
    ("queue", lambda j: j.queue),
    ("status", lambda j: j.status),
    ("final_status", lambda j: j.final_status),
    ("scheduled_at", lambda j: j.scheduled_at),
    ("url", lambda j: j.url),
]


def recuro_id(job_id: str) -> int | None:
    """The integer id of a Recuro job, or None for a QuedUp ``job_...`` id."""
    return int(job_id) if job_id.isdigit() else None


def quedup_only(job_id: str, verb: str) -> str:
    if recuro_id(job_id) is not None:
        fail(
            f"{job_id} is a Recuro job (an integer id): Recuro jobs cannot be {verb}d. Pause its queue "
            "(`chronohook queues pause NAME`), or purge it once dead-lettered (`chronohook dead-letters purge ID`).",
            Exit.usage,
        )
    return job_id


@app.command("list")
def list_(
    api: Annotated[Api | None, typer.Option(help="One API's jobs only (default: both).")] = None,
    queue: Annotated[str | None, typer.Option(help="Recuro jobs of this queue only.")] = None,
    status: Annotated[str | None, typer.Option(help="Recuro jobs of this status only (pending, failed, ...).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many jobs of each API (default: all).")] = None,
    url: Url = None,
    token: Token = None,
    json_: Json = False,
) -> None:
    """List jobs, following every page: Recuro's (newest first), then QuedUp's (oldest first). With --json, one array
    whose items carry "api": "recuro" or "quedup"."""
    if api is Api.quedup and (queue is not None or status is not None):
        fail("--queue and --status filter Recuro jobs: use --api recuro", Exit.usage)
    if queue is not None or status is not None:
        api = Api.recuro
    with client(url, token) as c:
        recuro = (
            [] if api is Api.quedup else list(c.jobs.list(queue=queue, status=status, per_page=100, max_items=limit))
        )
        quedup = [] if api is Api.recuro else list(c.quedup.list(limit=1000, max_items=limit))
    if json_:
        items = [{"api": "recuro", **plain(j)} for j in recuro] + [{"api": "quedup", **plain(j)} for j in quedup]
        emit_json(items)
        return
    if api is None:
        typer.echo("Recuro jobs:")
    if api is not Api.quedup:
        table(recuro, RECURO_COLUMNS, False)
    if api is None:
        typer.echo("\nQuedUp jobs:")
    if api is not Api.recuro:
        table(quedup, QUEDUP_COLUMNS, False)


@app.command()
def get(
    job_id: Annotated[str, typer.Argument(help="A Recuro id (an integer) or a QuedUp id (job_...).")],
    url: Url = None,
    token: Token = None,
    json_: Json = False,
) -> None:
    """Show one job (a Recuro job with its runs)."""
    with client(url, token) as c:
        number = recuro_id(job_id)
        show(c.jobs.get(number) if number is not None else c.quedup.get(job_id), json_)


@app.command()
def create(
    target: Annotated[str, typer.Argument(metavar="TARGET_URL", help="The URL the job calls.")],
    queue: Annotated[str | None, typer.Option(help="Make a Recuro job in this queue.")] = None,
    name: Annotated[str | None, typer.Option(help="Make a QuedUp job with this name.")] = None,
    method: Annotated[str | None, typer.Option(help="HTTP method (default: POST).")] = None,
    header: Annotated[list[str] | None, typer.Option(help="A request header, 'Name: value' (repeatable).")] = None,
    payload: Annotated[str | None, typer.Option(help="Recuro: the JSON payload sent as the body.")] = None,
    body: Annotated[str | None, typer.Option(help="QuedUp: the body, as text.")] = None,
    delay: Annotated[int | None, typer.Option(help="Recuro: seconds from now.")] = None,
    run_at: Annotated[str | None, typer.Option(help="When to run, RFC 3339 (2026-12-24T09:00:00Z).")] = None,
    schedule: Annotated[str | None, typer.Option(help="QuedUp: a cron expression.")] = None,
    timezone: Annotated[str | None, typer.Option(help="QuedUp: the schedule's IANA zone (default: UTC).")] = None,
    callback_url: Annotated[str | None, typer.Option(help="Recuro: where the result is posted.")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Send again safely: a repeat creates nothing.")] = None,
    url: Url = None,
    token: Token = None,
    json_: Json = False,
) -> None:
    """Create a job calling TARGET_URL: a Recuro one with --queue, a QuedUp one with --name."""
    if (queue is None) == (name is None):
        fail("give exactly one of --queue (a Recuro job) or --name (a QuedUp job)", Exit.usage)
    headers = parse_headers(header)
    created: Any
    with client(url, token) as c:
        if queue is not None:
            if body is not None or schedule is not None or timezone is not None:
                fail("--body, --schedule and --timezone are QuedUp's: use --name", Exit.usage)
            created = c.jobs.create(
                queue,
                target,
                method=method,
                headers=headers,
                payload=parse_json(payload, "--payload"),
                callback_url=callback_url,
                delay=delay,
                run_at=run_at,
                idempotency_key=idempotency_key,
            )
        else:
            assert name is not None
            if payload is not None or delay is not None or callback_url is not None:
                fail("--payload, --delay and --callback-url are Recuro's: use --queue", Exit.usage)
            created = c.quedup.create(
                name,
                target,
                method=method or "POST",
                body=body,
                headers=headers,
                run_at=run_at,
                schedule=schedule,
                timezone=timezone,
                idempotency_key=idempotency_key,
            )
        show(created, json_)


@app.command()
def delete(
    job_id: Annotated[str, typer.Argument(help="A QuedUp id (job_...).")],
    url: Url = None,
    token: Token = None,
) -> None:
    """Delete a QuedUp job (a pending run is cancelled; its history stays)."""
    with client(url, token) as c:
        c.quedup.delete(quedup_only(job_id, "delete"))
    typer.echo(f"deleted {job_id}")


@app.command()
def pause(
    job_id: Annotated[str, typer.Argument(help="A QuedUp id (job_...).")],
    url: Url = None,
    token: Token = None,
    json_: Json = False,
) -> None:
    """Pause a QuedUp job."""
    with client(url, token) as c:
        show(c.quedup.pause(quedup_only(job_id, "pause")), json_)


@app.command()
def resume(
    job_id: Annotated[str, typer.Argument(help="A QuedUp id (job_...).")],
    url: Url = None,
    token: Token = None,
    json_: Json = False,
) -> None:
    """Resume a QuedUp job (occurrences missed while paused are skipped)."""
    with client(url, token) as c:
        show(c.quedup.resume(quedup_only(job_id, "resume")), json_)
