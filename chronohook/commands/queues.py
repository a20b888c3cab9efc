"""``chronohook queues list|get|pause|resume``: Recuro queues, by name."""

from __future__ import annotations

from typing import Annotated

import typer

from chronohook.commands.api import Json, Token, Url, client, show, table

app = typer.Typer(help="Recuro queues: list, show, pause, resume.")
Name = Annotated[str, typer.Argument(help="The queue's name.")]

COLUMNS = [
    ("name", lambda q: q.name),
    ("active", lambda q: q.is_active),
    ("timeout_s", lambda q: q.timeout_seconds),
    ("retries", lambda q: ",".join(str(d) for d in q.retry_delays) if q.retries_enabled else "off"),
    ("max_parallelism", lambda q: q.max_parallelism),
    ("dlq_days", lambda q: q.dlq_retention_days),
]


@app.command("list")
def list_(
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many (default: all).")] = None,
    url: Url = None,
    token: Token = None,
    json_: Json = False,
) -> None:
    """List the queues, following every page."""
    with client(url, token) as c:
        table(c.queues.list(per_page=100, max_items=limit), COLUMNS, json_)


@app.command()
def get(name: Name, url: Url = None, token: Token = None, json_: Json = False) -> None:
    """Show a queue's settings."""
    with client(url, token) as c:
        show(c.queues.get(name), json_)


@app.command()
def pause(name: Name, url: Url = None, token: Token = None, json_: Json = False) -> None:
    """Pause a queue: its jobs wait until it is resumed (a queue never pushed to is created paused)."""
    with client(url, token) as c:
        show(c.queues.pause(name), json_)


@app.command()
def resume(name: Name, url: Url = None, token: Token = None, json_: Json = False) -> None:
    """Resume a queue."""
    with client(url, token) as c:
        show(c.queues.resume(name), json_)
