"""``chronohook replay``'s refusals, before it touches the broker: exit 2 and a reason."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from chronohook.settings import Settings
from chronohook.store.engine import RawJson, create_schema, make_engine
from chronohook.store.tables import jobs
from services.projector.replay_command import ERROR, parse_until, run_replay, target_url


def _run(settings: Settings, **kwargs: object) -> tuple[int, str]:
    err = io.StringIO()
    args: dict[str, object] = dict(into=None, verify=False, until=None, force=False, wait=1.0)
    args.update(kwargs)
    code = run_replay(settings, out=io.StringIO(), err=err, **args)  # type: ignore[arg-type]
    return code, err.getvalue()


def test_arguments_that_do_not_go_together_are_refused(tmp_path: Path) -> None:
    # Given settings pointing at a broker that is not there (nothing may be asked of it)
    settings = Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:9")
    # When replay is asked for neither a target nor a verify, or for --until with --verify, or a bad time
    # Then each is refused with exit 2 and says why
    assert _run(settings) == (ERROR, "say where to replay into (--into PATH_OR_URL), or give --verify\n")
    code, text = _run(settings, verify=True, until="2026-01-01T00:00:00Z")
    assert code == ERROR and "--until and --verify" in text
    code, text = _run(settings, into=str(tmp_path / "r.db"), until="yesterday")
    assert code == ERROR and "not an RFC 3339 time" in text


def test_the_live_database_and_a_non_empty_target_are_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:9")
    # Given the live database as target
    code, text = _run(settings, into=str(tmp_path / "chronohook.db"), force=True)
    # Then it is refused, even with --force
    assert code == ERROR and "the target is the live database" in text
    # Given a target that already holds a job
    target = tmp_path / "other.db"
    engine = make_engine(target_url(str(target)))
    create_schema(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(jobs).values(job_id="j", tenant="t", api="recuro", created_at=datetime.now(UTC), doc=RawJson("{}"))
        )
    engine.dispose()
    # When replayed into without --force
    code, text = _run(settings, into=str(target))
    # Then it is refused and says how to go on
    assert code == ERROR and "already holds read models (--force empties them first)" in text


def test_until_without_an_offset_is_utc() -> None:
    assert parse_until("2026-11-23T12:00:00") == datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert parse_until("2026-11-23T13:00:00+01:00") == datetime(2026, 11, 23, 12, tzinfo=UTC)
