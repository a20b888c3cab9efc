"""Engine construction: SQLite (WAL, shared by several processes) by default, PostgreSQL by URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text

from chronohook.store.tables import metadata


class RawJson(str):
    """A JSON document already serialised (by pydantic-core): stored as is, not encoded a second time."""


def json_serializer(value: Any) -> str:
    # The projector hands over pydantic's own JSON; json.dumps of model_dump() cost it ~15% of its time.
    return str.__str__(value) if isinstance(value, RawJson) else json.dumps(value)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, json_serializer=json_serializer
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, json_serializer=json_serializer)


def create_schema(engine: Engine) -> None:
    metadata.create_all(engine, checkfirst=True)


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
