"""``chronohook dead-letters list|replay|purge``: Recuro jobs whose retries ran out.

``replay`` and ``purge`` take ids, or ``--queue`` for all of a queue's; the API does up to 1,000 per call, so a
large set is several calls, shown with a progress bar on standard error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer

from chronohook.commands.api import Exit, Json, Token, Url, client, emit_json, fail, progress_output, table

app = typer.Typer(help="Recuro dead letters: list, replay (one, many or a queue's), purge.")
BULK_MAX = 1000  # the API's most per bulk call
Ids = Annotated[list[int] | None, typer.Argument(help="Dead letters' ids (the dead Recuro jobs' ids).")]
Queue = Annotated[str | None, typer.Option(help="All of this queue's dead letters.")]

COLUMNS = [
    ("job_id", lambda d: d.job_id),
    ("queue", lambda d: d.queue),
    ("attempts", lambda d: d.attempts),
    ("dead_lettered_at", lambda d: d.dead_lettered_at),
    ("last_failure", lambda d: None if d.last_failure is None else d.last_failure.failure_reason),
    ("url", lambda d: d.url),
]


@app.command("list")
def list_(
    queue: Annotated[str | None, typer.Option(help="This queue's only.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many (default: all).")] = None,
    url: Url = None,
    token: Token = None,
    json_: Json = False,
) -> None:
    """List dead letters, newest first, following every page."""
    with client(url, token) as c:
        table(c.dead_letters.list(queue=queue, per_page=100, max_items=limit), COLUMNS, json_)


def _one_of(ids: Sequence[int] | None, queue: str | None) -> None:
    if bool(ids) == (queue is not None):
        fail("give dead letters' ids, or --queue (not both)", Exit.usage)


@app.command()
def replay(ids: Ids = None, queue: Queue = None, url: Url = None, token: Token = None, json_: Json = False) -> None:
    """Replay dead letters as fresh jobs: the ones named, or all of --queue's."""
    _one_of(ids, queue)
    replayed: list[Any] = []
    skipped: list[Any] = []
    with client(url, token) as c:
        if ids:
            unique = list(dict.fromkeys(ids))
            with typer.progressbar(length=len(unique), label="replaying", file=progress_output()) as bar:
                for start in range(0, len(unique), BULK_MAX):
                    chunk = unique[start : start + BULK_MAX]
                    answer = c.dead_letters.replay_many(job_ids=chunk)
                    replayed += answer.jobs
                    skipped += answer.skipped
                    bar.update(len(chunk))
        else:
            assert queue is not None
            answer = c.dead_letters.replay_many(queue=queue)
            replayed += answer.jobs
            skipped += answer.skipped
            with typer.progressbar(
                length=answer.count + answer.remaining, label="replaying", file=progress_output()
            ) as bar:
                bar.update(answer.count)
                while answer.remaining > 0 and answer.count > 0:
                    answer = c.dead_letters.replay_many(queue=queue)
                    replayed += answer.jobs
                    skipped += answer.skipped
                    bar.update(answer.count)
    if json_:
        emit_json({"count": len(replayed), "jobs": replayed, "skipped": skipped})
        return
    for job in replayed:
        typer.echo(f"{job.replay_of} -> {job.job_id}")
    for skip in skipped:
        typer.echo(f"{skip.job_id} skipped: {skip.reason}")
    typer.echo(f"replayed {len(replayed)}, skipped {len(skipped)}")


@app.command()
def purge(ids: Ids = None, queue: Queue = None, url: Url = None, token: Token = None, json_: Json = False) -> None:
    """Delete dead letters for good: the ones named, or all of --queue's."""
    _one_of(ids, queue)
    purged: list[int] = []
    with client(url, token) as c:
        if ids:
            unique = list(dict.fromkeys(ids))
            with typer.progressbar(unique, label="purging", file=progress_output()) as bar:
                for job_id in bar:
                    c.dead_letters.delete(job_id)
                    purged.append(job_id)
        else:
            assert queue is not None
            answer = c.dead_letters.purge(queue)
            purged += answer.job_ids
            while answer.remaining > 0 and answer.purged > 0:
                answer = c.dead_letters.purge(queue)
                purged += answer.job_ids
    if json_:
        emit_json({"purged": len(purged), "job_ids": purged})
        return
    typer.echo(f"purged {len(purged)}")
