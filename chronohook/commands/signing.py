"""``chronohook signing-secret show|rotate``: the secret every request chronohook sends is signed with."""

from __future__ import annotations

from typing import Annotated

import typer

from chronohook.commands.api import Json, Token, Url, client, show

app = typer.Typer(help="The tenant's request-signing secret (give it to your receivers' verify_webhook).")


@app.command("show")
def show_(url: Url = None, token: Token = None, json_: Json = False) -> None:
    """Show the signing secret (made on first use)."""
    with client(url, token) as c:
        show(c.signing_secret.get(), json_)


@app.command()
def rotate(
    grace_seconds: Annotated[
        int | None,
        typer.Option(
            min=0, max=86400, help="Seconds the old secret keeps signing beside the new one (default: 86400)."
        ),
    ] = None,
    url: Url = None,
    token: Token = None,
    json_: Json = False,
) -> None:
    """Make a new secret; the old one keeps signing beside it for the grace period."""
    with client(url, token) as c:
        show(c.signing_secret.rotate(grace_seconds=grace_seconds), json_)
