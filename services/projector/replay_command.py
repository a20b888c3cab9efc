"""``chronohook replay``: where to replay into, what to print, the exit status (docs/replay.md)."""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from confluent_kafka import KafkaException
from sqlalchemy import Engine, event, make_url
from sqlalchemy.exc import SQLAlchemyError

from chronohook.clock import SystemClock, to_ms
from chronohook.progress import progress_for
from chronohook.readmodel.digest import describe
from chronohook.readmodel.store import ReadModelStore
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from services.projector.replay import Replayer, ReplayError, Verified, clear, is_empty
from services.projector.replay import verify as verify_replay

EQUAL, DIFFER, ERROR = 0, 1, 2
SHOWN_SET_ASIDE = 20


def target_url(into: str) -> str:
    """A URL as given; a path as a SQLite file."""
    if "://" in into:
        return into
    return f"sqlite:///{Path(into).expanduser().resolve()}"


def _same_database(a: str, b: str) -> bool:
    ua, ub = make_url(a), make_url(b)
    if ua.get_backend_name() == ub.get_backend_name() == "sqlite":
        return bool(ua.database and ub.database and Path(ua.database).resolve() == Path(ub.database).resolve())
    return ua.render_as_string(hide_password=False) == ub.render_as_string(hide_password=False)


def _fast_sqlite(engine: Engine) -> None:
    """A replay target is rebuilt from the log, not kept safe: SQLite need not sync every transaction to disk."""

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        cur.close()


def parse_until(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def run_replay(
    settings: Settings,
    into: str | None,
    verify: bool,
    until: str | None,
    force: bool,
    wait: float,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    live_url = settings.resolved_database_url
    if until is not None and verify:
        print("--until and --verify do not go together: the live database is at the end of the log", file=err)
        return ERROR
    try:
        until_ms = None if until is None else to_ms(parse_until(until))
    except ValueError:
        print(f"--until {until!r} is not an RFC 3339 time", file=err)
        return ERROR
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if into is None:
        if not verify:
            print("say where to replay into (--into PATH_OR_URL), or give --verify", file=err)
            return ERROR
        tmp = tempfile.TemporaryDirectory(prefix="chronohook-replay-")
        url = f"sqlite:///{tmp.name}/replay.db"
    else:
        url = target_url(into)
    if _same_database(url, live_url):
        print("refused: the target is the live database", file=err)
        return ERROR
    shown_url = make_url(url).render_as_string(hide_password=True)
    engine = make_engine(url)
    live: Engine | None = None
    try:
        if engine.dialect.name == "sqlite":
            _fast_sqlite(engine)
        create_schema(engine)
        if not is_empty(engine):
            if not force:
                print(f"refused: {shown_url} already holds read models (--force empties them first)", file=err)
                return ERROR
            clear(engine)
        replayer = Replayer(settings, ReadModelStore(engine), SystemClock(), progress_for("replay", err))
        targets = replayer.end_offsets()
        result = replayer.run(targets, until_ms)
        print(
            f"replayed {result.records:,} records in {result.seconds:.1f} s ({result.rate:,.0f} events/s) "
            f"into {shown_url}",
            file=out,
        )
        if until is not None:
            print(f"until {until}: {len(result.stopped_at_until)} partitions stopped before the end", file=out)
        if result.set_aside:
            print(f"{len(result.set_aside)} records not applied (the live projector set them aside too):", file=out)
            for s in result.set_aside[:SHOWN_SET_ASIDE]:
                print(f"  {s.topic}/{s.partition}@{s.offset}: {s.reason}", file=out)
        if not verify:
            return EQUAL
        live = make_engine(live_url)
        verified = verify_against(replayer, engine, live, wait, err)
        if verified.caught_up:
            print(f"replayed {verified.caught_up:,} more records to meet the live projector", file=out)
        for line in describe(verified.diffs):
            print(line, file=out)
        print("equal" if verified.equal else "DIFFERENT", file=out)
        return EQUAL if verified.equal else DIFFER
    except (ReplayError, KafkaException, SQLAlchemyError) as exc:
        print(f"replay failed: {type(exc).__name__}: {exc}", file=err)
        return ERROR
    finally:
        engine.dispose()
        if live is not None:
            live.dispose()
        if tmp is not None:
            tmp.cleanup()


def verify_against(replayer: Replayer, engine: Engine, live: Engine, wait: float, err: IO[str]) -> Verified:
    return verify_replay(replayer, engine, live, wait, on_wait=lambda text: print(text, file=err))
