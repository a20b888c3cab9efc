"""The API verbs of the ``chronohook`` command (docs/cli.md): they speak to a running stack through the Python client
(clients/python), as any user's program would. ``register`` adds them to the CLI."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from chronohook.commands import crons, dead_letters, jobs, queues, receiver, signing

    app.add_typer(jobs.app, name="jobs")
    app.add_typer(queues.app, name="queues")
    app.add_typer(crons.app, name="crons")
    app.add_typer(dead_letters.app, name="dead-letters")
    app.add_typer(signing.app, name="signing-secret")
    app.command("receiver")(receiver.run)
