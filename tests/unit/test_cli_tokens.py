"""`chronohook tokens create --tenant NAME` prints a new token once; only its hash is stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from chronohook.store.engine import make_engine
from chronohook.store.tables import api_tokens
from chronohook.store.tokens import hash_token, tenant_for_token


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
