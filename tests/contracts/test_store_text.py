# ruff: noqa: RUF001 - confusable and odd characters are what this file is about
"""Every text ingest accepts is stored alike by SQLite and PostgreSQL: odd text, through the real validation path.

Each job is validated by the ingest request models and built by ``services.ingest.commands`` exactly as a request
would be, folded into the read model and read back on both backends. Text ingest refuses (NUL, control characters
in names and URLs) is refused before it gets here (tests/unit/test_ingest_guard.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from chronohook.readmodel.store import Consumed, ReadModelStore
from chronohook.store.tables import queues
from schemas.events import JobCreated, JobPushed
from services.ingest import commands, names
from services.ingest.models import CreateCronRequest, CreateJobRequest, PushJobRequest
from services.ingest.validation import NAME_MAX, URL_MAX

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EMOJI = "😀🎉👩‍👩‍👧‍👦🏳️‍🌈"
RTL = "مرحبا بالعالم שלום \u200f\u202e!"
RTL_WORD = "مرحبا\u200fשלום"  # no spaces: a URL has none
COMBINING = "e\u0301\u0308 a\u0300\u0323 \u0e01\u0e33"
ODD = f"{EMOJI} {RTL} {COMBINING} \ufeff\u2028\u2029\ufffd\uffff 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"
# Bodies are the target's data: control characters other than NUL are accepted there.
BODY_ODD = ODD + ' \x01\x08\x0b\x1b[0m\x7f\x80\x85\x9f " \\ </script>'
# The longest name and URL ingest accepts, in four-byte characters where a character may be anything.
LONGEST_NAME = "😀" * NAME_MAX
LONGEST_URL = "https://example.com/" + "é" * (URL_MAX - len("https://example.com/"))
HEADERS = {"X-Greeting": f"Zoë {EMOJI}", "X-Rtl": RTL, "X-Long": "v" * 4000}

CASES: list[tuple[str, dict[str, Any]]] = [
    ("quedup", {"name": ODD, "method": "POST", "url": f"https://例え.テスト/{EMOJI}?q={RTL_WORD}", "body": BODY_ODD,
                "headers": HEADERS, "schedule": "0 3 * * *"}),
    ("quedup", {"name": LONGEST_NAME, "method": "GET", "url": LONGEST_URL}),
    ("recuro", {"queue": ODD, "url": f"https://example.com/{COMBINING.replace(' ', '')}", "callback_url": f"https://x.example/{EMOJI}",
                "headers": HEADERS, "payload": {ODD: [BODY_ODD, {EMOJI: RTL}], "n": 1.5, "deep": [[[None]]]}}),
    ("recuro", {"queue": LONGEST_NAME, "url": LONGEST_URL, "callback_url": LONGEST_URL}),
    ("cron", {"name": ODD, "url": f"https://example.com/{RTL_WORD}", "cron_expression": "*/5 * * * *",
              "payload": BODY_ODD, "headers": HEADERS,
              "success_assertions": [{"type": "body_contains", "value": ODD}]}),
    ("cron", {"name": LONGEST_NAME, "url": LONGEST_URL, "cron_expression": "0 0 * * 0"}),
]  # fmt: skip


def _accepted(kind: str, body: dict[str, Any], n: int) -> JobCreated | JobPushed:
    """The event ingest would write for this request body, validated exactly as the API validates it."""
    if kind == "quedup":
        return commands.create_quedup_job(CreateJobRequest.model_validate(body), "tenant-😀", f"job_{n}", T0)
    if kind == "recuro":
        return commands.push_recuro_job(PushJobRequest.model_validate(body), "tenant-😀", n, T0)
    return commands.create_recuro_cron(CreateCronRequest.model_validate(body), "tenant-😀", n, T0)


def test_accepted_odd_text_round_trips_through_the_store(engine: Engine) -> None:
    # Given jobs of every API carrying emoji, RTL text, combining marks, noncharacters and the longest fields
    events = [_accepted(kind, body, n) for n, (kind, body) in enumerate(CASES, start=1)]
    # When they are folded into the read model
    ReadModelStore(engine).apply("p", [Consumed("log", 0, i, e) for i, e in enumerate(events)], T0)
    # Then a fresh reader gets every field back exactly as it was accepted
    reader = ReadModelStore(engine)
    for event in events:
        view = reader.job("tenant-😀", event.job_id)
        assert view is not None, event.job_id
        assert view.request == event.request
        assert (view.name, view.queue) == (getattr(event, "name", None), getattr(event, "queue", None))
        assert view.callback_url == getattr(event, "callback_url", None)
        assert view.payload == getattr(event, "payload", None)
    # And the queues' names are stored as given
    with engine.connect() as conn:
        stored = set(conn.execute(select(queues.c.name)).scalars())
    assert {ODD, LONGEST_NAME} <= stored


def test_the_odd_and_the_longest_names_can_be_reserved(engine: Engine) -> None:
    # Given the oddest and the longest name a job may have
    for name in (ODD, LONGEST_NAME):
        # When each is reserved twice
        # Then the first holds it and the second is refused
        assert names.reserve(engine, "tenant-😀", name, "job_1")
        assert not names.reserve(engine, "tenant-😀", name, "job_2")
