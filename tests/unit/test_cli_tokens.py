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
    # Given an empty data dir
    env = dict(os.environ, CHRONOHOOK_DATA_DIR=str(tmp_path))
    env.pop("CHRONOHOOK_DATABASE_URL", None)
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
