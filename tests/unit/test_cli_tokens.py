"""`chronohook tokens create|list|revoke`: a token is printed once, only its hash is stored, and it can be ended."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, text
from typer.testing import CliRunner

from chronohook.cli import app
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.tables import api_tokens
from chronohook.store.tokens import (
    create_token,
    hash_token,
    list_tokens,
    revoke_token,
    tenant_for_token,
    token_id,
)


def test_tokens_create_prints_a_token_bound_to_the_tenant(tmp_path: Path) -> None:
    # Given a data dir holding a stack's database (an empty one is refused: tests/unit/test_devstack.py)
    env = dict(os.environ, CHRONOHOOK_DATA_DIR=str(tmp_path))
    env.pop("CHRONOHOOK_DATABASE_URL", None)
    _engine(tmp_path).dispose()
    # When two tokens are created for a tenant
    run = [sys.executable, "-m", "chronohook.cli", "tokens", "create", "--tenant", "acme"]
    first = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.strip()
    second = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.strip()
    # Then each printed token is new and acts for that tenant
    assert first != second
    assert first.startswith("chk_")
    engine = make_engine(f"sqlite:///{tmp_path / 'chronohook.db'}")
    assert tenant_for_token(engine, first) == "acme"
    assert tenant_for_token(engine, second) == "acme"
    # And the database holds only hashes, never the token itself
    with engine.connect() as conn:
        stored = {row[0] for row in conn.execute(select(api_tokens.c.token_hash))}
    assert stored == {hash_token(first), hash_token(second)}
    assert all(first not in h and second not in h for h in stored)
    engine.dispose()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The CLI reads its settings from the environment, as a user's shell gives them.
    monkeypatch.setenv("CHRONOHOOK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CHRONOHOOK_DATABASE_URL", raising=False)
    return tmp_path


def _engine(data_dir: Path) -> Engine:
    engine = make_engine(f"sqlite:///{data_dir / 'chronohook.db'}")
    create_schema(engine)
    return engine


def test_tokens_list_shows_ids_tenants_and_labels_but_never_a_token(data_dir: Path) -> None:
    # Given two tokens of two tenants
    engine = _engine(data_dir)
    acme = create_token(engine, "acme", "deploy bot")
    other = create_token(engine, "other")
    # When they are listed
    out = CliRunner().invoke(app, ["tokens", "list"])
    # Then each shows its id, tenant and label, and neither token nor hash appears
    assert out.exit_code == 0, out.output
    header, *lines = out.output.splitlines()
    assert header.split() == ["ID", "TENANT", "LABEL", "CREATED", "REVOKED"]
    assert {line.split()[0] for line in lines} == {token_id(hash_token(acme)), token_id(hash_token(other))}
    assert any("deploy bot" in line and "acme" in line for line in lines)
    assert acme not in out.output and other not in out.output and hash_token(acme) not in out.output
    # And --tenant narrows the list
    only = CliRunner().invoke(app, ["tokens", "list", "--tenant", "other"]).output.splitlines()[1:]
    assert [line.split()[:2] for line in only] == [[token_id(hash_token(other)), "other"]]
    engine.dispose()


@pytest.mark.parametrize("by", ["token", "id"])
def test_tokens_revoke_by_token_or_id_ends_the_token(data_dir: Path, by: str) -> None:
    # Given a token in use and another of the same tenant
    engine = _engine(data_dir)
    token = create_token(engine, "acme")
    kept = create_token(engine, "acme")
    given = token if by == "token" else token_id(hash_token(token))
    # When it is revoked from the command line
    out = CliRunner().invoke(app, ["tokens", "revoke", given])
    # Then it acts for no one any more, the other one still does, and the listing says when it was revoked
    assert out.exit_code == 0, out.output
    assert token_id(hash_token(token)) in out.output
    assert tenant_for_token(engine, token) is None
    assert tenant_for_token(engine, kept) == "acme"
    [info] = [t for t in list_tokens(engine) if t.id == token_id(hash_token(token))]
    assert info.revoked_at is not None
    # And revoking again keeps the first time
    again = CliRunner().invoke(app, ["tokens", "revoke", given])
    assert again.exit_code == 0
    assert next(t for t in list_tokens(engine) if t.id == info.id).revoked_at == info.revoked_at
    engine.dispose()


@pytest.mark.parametrize("given", ["chk_not-a-token", "tok_000000000000", "tok_xyz", ""])
def test_tokens_revoke_of_an_unknown_token_fails_and_changes_nothing(data_dir: Path, given: str) -> None:
    # Given one token
    engine = _engine(data_dir)
    token = create_token(engine, "acme")
    # When something else is revoked
    out = CliRunner().invoke(app, ["tokens", "revoke", given])
    # Then the command fails and the token still works
    assert out.exit_code == 1
    assert tenant_for_token(engine, token) == "acme"
    engine.dispose()


def test_a_database_from_before_revocation_gains_the_column_and_keeps_its_tokens(tmp_path: Path) -> None:
    # Given an api_tokens table as the first release made it, holding a token
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    token = "chk_old-token"
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE api_tokens (token_hash VARCHAR(64) PRIMARY KEY, tenant VARCHAR(255) NOT NULL,"
                " label VARCHAR(255), created_at DATETIME NOT NULL)"
            )
        )
        conn.execute(
            text("INSERT INTO api_tokens VALUES (:h, 'acme', NULL, '2026-01-01 00:00:00')"), {"h": hash_token(token)}
        )
    # When the schema is brought up to date (as every service does at start), twice
    create_schema(engine)
    create_schema(engine)
    # Then the old token still acts for its tenant, and can be revoked
    assert "revoked_at" in {c["name"] for c in inspect(engine).get_columns("api_tokens")}
    assert tenant_for_token(engine, token) == "acme"
    revoke_token(engine, token)
    assert tenant_for_token(engine, token) is None
    engine.dispose()


# -- tokens import: a migrating client keeps its configured token (issue 15) -----------------------------------------
RECURO_TOKEN = "rcr_3f9a7c2e1b8d4a6f0e5c9b2a7d1f4e8c"
QUEDUP_TOKEN = "qup_Zx8-Kp2.Lm9~Qr4+Ts7/Uv1=="


@pytest.mark.parametrize("token", [RECURO_TOKEN, QUEDUP_TOKEN])
def test_tokens_import_registers_an_existing_token_read_from_stdin(data_dir: Path, token: str) -> None:
    # Given a token a client is configured with at another product
    engine = _engine(data_dir)
    # When it is imported for a tenant from standard input (as `... < token.txt` or a pipe gives it, newline included)
    out = CliRunner().invoke(
        app, ["tokens", "import", "--tenant", "acme", "--label", "from recuro"], input=token + "\n"
    )
    # Then it acts for that tenant, and the command names it by id without echoing it
    assert out.exit_code == 0, out.output
    assert tenant_for_token(engine, token) == "acme"
    assert out.output.strip() == f"imported {token_id(hash_token(token))} (tenant acme)"
    assert token not in out.output
    # And only its hash is stored
    with engine.connect() as conn:
        assert [row[0] for row in conn.execute(select(api_tokens.c.token_hash))] == [hash_token(token)]
    # And `tokens list` shows it with its label
    listed = CliRunner().invoke(app, ["tokens", "list", "--tenant", "acme"]).output.splitlines()[1:]
    assert len(listed) == 1 and listed[0].split()[:2] == [token_id(hash_token(token)), "acme"]
    assert "from recuro" in listed[0]
    # And `tokens revoke` ends it, given itself or its id
    revoked = CliRunner().invoke(app, ["tokens", "revoke", token_id(hash_token(token))])
    assert revoked.exit_code == 0, revoked.output
    assert tenant_for_token(engine, token) is None
    engine.dispose()


def test_tokens_import_takes_no_token_on_the_command_line(data_dir: Path) -> None:
    # Given the import command; When a token is given as an argument (where `ps` and shell history would show it)
    out = CliRunner().invoke(app, ["tokens", "import", "--tenant", "acme", RECURO_TOKEN], input="")
    # Then the command refuses the argument, and nothing is registered
    assert out.exit_code != 0
    engine = _engine(data_dir)
    assert tenant_for_token(engine, RECURO_TOKEN) is None
    engine.dispose()


@pytest.mark.parametrize("revoked", [False, True])
def test_tokens_import_of_a_registered_token_is_refused_and_changes_nothing(data_dir: Path, revoked: bool) -> None:
    # Given a token imported for acme (and perhaps revoked since)
    engine = _engine(data_dir)
    first = CliRunner().invoke(app, ["tokens", "import", "--tenant", "acme"], input=RECURO_TOKEN)
    assert first.exit_code == 0, first.output
    if revoked:
        revoke_token(engine, RECURO_TOKEN)
    # When it is imported again, for another tenant
    again = CliRunner().invoke(app, ["tokens", "import", "--tenant", "other"], input=RECURO_TOKEN)
    # Then the command fails saying it is registered already, by id, and the token's tenant and state stay
    assert again.exit_code == 1
    assert f"registered already as {token_id(hash_token(RECURO_TOKEN))} (tenant acme" in again.output
    assert RECURO_TOKEN not in again.output
    assert tenant_for_token(engine, RECURO_TOKEN) == (None if revoked else "acme")
    assert [t.tenant for t in list_tokens(engine)] == ["acme"]
    engine.dispose()


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("", "16 to 256 characters"),
        ("short_token_1234"[:15], "16 to 256 characters"),
        ("t" * 257, "16 to 256 characters"),
        ("rcr_with space_inside_it", "no spaces"),
        ("rcr_two_tokens_here_1\nrcr_two_tokens_here_2", "no spaces"),
        ("rcr_tab\tinside_the_token", "no spaces"),
        ("rcr_é_not_a_b64token_char", "no spaces"),
        ('rcr_quote"_inside_the_token', "no spaces"),
        ("rcr_control\x07_inside_token", "no spaces"),
    ],
)
def test_tokens_import_refuses_a_value_no_bearer_header_could_carry(data_dir: Path, given: str, why: str) -> None:
    # Given an empty token store
    engine = _engine(data_dir)
    # When a value that is too short, too long, or not one printable word is imported
    out = CliRunner().invoke(app, ["tokens", "import", "--tenant", "acme"], input=given)
    # Then the command fails saying why, without quoting the value, and nothing is registered
    assert out.exit_code == 1
    assert why in out.output
    assert list_tokens(engine) == []
    engine.dispose()


def test_an_imported_token_authenticates_at_the_api(data_dir: Path) -> None:
    # Given a QuedUp token imported for acme, and an ingest app on the same database
    from fastapi.testclient import TestClient

    from chronohook.clock import SystemClock
    from chronohook.kafka.log import InMemoryEventLog
    from chronohook.settings import Settings
    from services.ingest.app import build_context, create_app

    _engine(data_dir).dispose()
    imported = CliRunner().invoke(app, ["tokens", "import", "--tenant", "acme"], input=QUEDUP_TOKEN + "\n")
    assert imported.exit_code == 0, imported.output
    ctx = build_context(Settings(data_dir=data_dir), SystemClock(), log=InMemoryEventLog())
    # When the client lists its jobs with the token it was configured with
    with TestClient(create_app(ctx)) as client:
        r = client.get("/jobs", headers={"Authorization": f"Bearer {QUEDUP_TOKEN}"})
    # Then it is let in, as acme
    assert r.status_code == 200, r.text
    assert r.json() == []
