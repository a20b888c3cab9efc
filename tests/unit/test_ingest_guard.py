"""What ingest refuses at create because it could not be sent safely or stored: refused addresses, owned headers,
control characters and NUL. Every refusal is a 422 in the endpoint's shape, on the field at fault.

Nothing here sends a request: the app writes to an in-memory event log, and refused URLs never leave the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.outbound.headers import MAX_HEADER_BYTES, MAX_HEADERS
from chronohook.settings import Settings
from chronohook.store.tokens import create_token
from services.ingest.app import build_context, create_app
from tests.unit.test_ingest_api import NOW, Api
from tests.unit.test_ingest_bad_input import quedup_422, recuro_422

ALLOWED = "http://127.0.0.2:8080/hook"
QUEDUP = {"name": "job", "method": "POST", "url": "https://example.com/q"}
PUSH = {"queue": "emails", "url": "https://example.com/r"}
CRON = {"name": "nightly", "url": "https://example.com/c", "cron_expression": "0 3 * * *"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    # Given an ingest app whose egress policy allows only 127.0.0.2
    log = InMemoryEventLog()
    clock = FixedClock(NOW)
    ctx = build_context(Settings(data_dir=tmp_path, egress_allow="127.0.0.2/32"), clock, log=log)
    t1, t2 = create_token(ctx.engine, "t1"), create_token(ctx.engine, "t2")
    with TestClient(create_app(ctx)) as client:
        yield Api(client, ctx, log, clock, {"Authorization": f"Bearer {t1}"}, {"Authorization": f"Bearer {t2}"})


def refused(api: Api, path: str, body: dict[str, Any], field: str) -> list[str]:
    r = api.client.post(path, json=body, headers=api.t1)
    messages = quedup_422(r, field) if path == "/jobs" else recuro_422(r, field)
    assert api.log.records == [], "nothing refused reaches the job log"
    return messages


# Where a URL goes, per endpoint: (path, body without the URL field, the field).
URL_FIELDS = [
    ("/jobs", QUEDUP, "url"),
    ("/api/jobs", PUSH, "url"),
    ("/api/jobs", PUSH, "callback_url"),
    ("/api/crons", CRON, "url"),
    ("/api/crons", CRON, "callback_url"),
]
# Odd spellings of addresses the default policy refuses (loopback other than 127.0.0.2, private, link-local, ...).
REFUSED_URLS = [
    "http://127.0.0.1/",
    "http://127.0.0.1:9092/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://127.0.0.1./",
    "http://0/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://①②⑦.0.0.1/",
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",  # fullwidth digits
    "http://user@127.0.0.1/",
    "http://example.com@127.0.0.1/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/role",
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://[fd00::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://224.0.0.1/",
]


# -- egress: a literal refused address is a 422 at create ------------------------------------------------------------
@pytest.mark.parametrize("url", REFUSED_URLS)
@pytest.mark.parametrize(("path", "body", "field"), URL_FIELDS, ids=[f"{p} {f}" for p, _, f in URL_FIELDS])
def test_a_refused_address_in_any_spelling_is_422_on_its_field(
    api: Api, path: str, body: dict[str, Any], field: str, url: str
) -> None:
    # Given a job whose URL field names a refused address, spelled oddly
    # When it is created
    messages = refused(api, path, body | {field: url}, field)
    # Then the 422 names the field and the policy
    assert "egress policy" in messages[0], messages


@pytest.mark.parametrize(("path", "body", "field"), URL_FIELDS, ids=[f"{p} {f}" for p, _, f in URL_FIELDS])
def test_a_url_on_an_allowed_network_is_accepted(api: Api, path: str, body: dict[str, Any], field: str) -> None:
    # Given a URL on the network CHRONOHOOK_EGRESS_ALLOW names (127.0.0.2/32), and a public-looking name
    # When it is created
    r = api.client.post(path, json=body | {field: ALLOWED}, headers=api.t1)
    # Then it is accepted: names are judged when they are resolved, at connect time, not here
    assert r.status_code in (200, 201), r.text
    assert len(api.log.records) == 1


def test_a_batch_names_the_job_whose_url_is_refused(api: Api) -> None:
    # Given a batch whose second job has a refused callback URL
    jobs = [PUSH, PUSH | {"callback_url": "http://[::1]:8080/cb"}, PUSH]
    # When it is pushed
    messages = refused(api, "/api/jobs/batch", {"jobs": jobs}, "jobs.1.callback_url")
    # Then the index and field are named, and none of the jobs is accepted
    assert messages[0].startswith("The jobs.1.callback_url field is refused by the egress policy: ::1 is loopback")


def test_patching_a_quedup_job_to_a_refused_url_is_422(api: Api) -> None:
    # Given an existing job
    r = api.client.post("/jobs", json=QUEDUP, headers=api.t1)
    assert r.status_code == 200, r.text
    api.project()
    # When its URL is changed to a refused address
    r = api.client.patch(f"/jobs/{r.json()['id']}", json={"url": "http://2130706433/"}, headers=api.t1)
    # Then it is refused on url and nothing more is written
    quedup_422(r, "url")
    assert len(api.log.records) == 1


def test_with_an_empty_allow_list_even_the_receivers_host_is_refused(tmp_path: Path) -> None:
    # Given the default policy (CHRONOHOOK_EGRESS_ALLOW empty: every inside address refused)
    ctx = build_context(Settings(data_dir=tmp_path), FixedClock(NOW), log=InMemoryEventLog())
    token = create_token(ctx.engine, "t1")
    with TestClient(create_app(ctx)) as client:
        # When a job names 127.0.0.2
        r = client.post("/api/jobs", json=PUSH | {"url": ALLOWED}, headers={"Authorization": f"Bearer {token}"})
    # Then it is refused
    recuro_422(r, "url")


# -- the outbound header policy ---------------------------------------------------------------------------------------
HEADER_FIELDS = [("/jobs", QUEDUP), ("/api/jobs", PUSH), ("/api/crons", CRON)]
FORBIDDEN = [
    "Host", "host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "TE", "Trailer", "Expect",
    "Keep-Alive", "Proxy-Authorization", "proxy-connection",
]  # fmt: skip


@pytest.mark.parametrize("name", FORBIDDEN)
@pytest.mark.parametrize(("path", "body"), HEADER_FIELDS, ids=[p for p, _ in HEADER_FIELDS])
def test_a_header_the_sender_owns_is_422_naming_it(api: Api, path: str, body: dict[str, Any], name: str) -> None:
    # Given a job that sets a header the sender owns (framing, connection, proxy)
    # When it is created
    messages = refused(api, path, body | {"headers": {"X-Fine": "1", name: "evil"}}, "headers")
    # Then the 422 is on headers and names the header
    assert name in messages[0], messages


@pytest.mark.parametrize(("path", "body"), HEADER_FIELDS, ids=[p for p, _ in HEADER_FIELDS])
def test_at_most_50_headers(api: Api, path: str, body: dict[str, Any]) -> None:
    # Given jobs with MAX_HEADERS and with one more
    exactly = {f"X-H{i}": "v" for i in range(MAX_HEADERS)}
    over = exactly | {"X-One-More": "v"}
    # Then the first is accepted and the second refused, saying the limit
    assert api.client.post(path, json=body | {"headers": exactly}, headers=api.t1).status_code in (200, 201)
    messages = refused_again(api, path, body | {"name": "other"} if "name" in body else body, over)
    assert str(MAX_HEADERS) in messages[0], messages


def refused_again(api: Api, path: str, body: dict[str, Any], headers: dict[str, str]) -> list[str]:
    before = len(api.log.records)
    r = api.client.post(path, json=body | {"headers": headers}, headers=api.t1)
    messages = quedup_422(r, "headers") if path == "/jobs" else recuro_422(r, "headers")
    assert len(api.log.records) == before
    return messages


@pytest.mark.parametrize(("path", "body"), HEADER_FIELDS, ids=[p for p, _ in HEADER_FIELDS])
def test_at_most_8_kib_of_headers(api: Api, path: str, body: dict[str, Any]) -> None:
    # Given headers of 8 KiB in all (names and values), and one byte more
    name = "X-Big"
    exactly = {name: "v" * (MAX_HEADER_BYTES - len(name))}
    over = {name: "v" * (MAX_HEADER_BYTES - len(name) + 1)}
    # Then the first is accepted and the second refused, saying the limit
    assert api.client.post(path, json=body | {"headers": exactly}, headers=api.t1).status_code in (200, 201)
    messages = refused_again(api, path, body | {"name": "other"} if "name" in body else body, over)
    assert str(MAX_HEADER_BYTES) in messages[0], messages


# -- control characters -------------------------------------------------------------------------------------------
CONTROLS = ["\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9f"]
TEXT_FIELDS = [
    ("/jobs", QUEDUP, "name"),
    ("/jobs", QUEDUP, "url"),
    ("/jobs", QUEDUP | {"schedule": "0 3 * * *"}, "schedule"),
    ("/api/jobs", PUSH, "queue"),
    ("/api/jobs", PUSH, "url"),
    ("/api/jobs", PUSH | {"callback_url": "https://example.com/cb"}, "callback_url"),
    ("/api/crons", CRON, "name"),
    ("/api/crons", CRON, "url"),
    ("/api/crons", CRON | {"callback_url": "https://example.com/cb"}, "callback_url"),
    ("/api/crons", CRON, "cron_expression"),
]


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
@pytest.mark.parametrize(("path", "body", "field"), TEXT_FIELDS, ids=[f"{p} {f}" for p, _, f in TEXT_FIELDS])
def test_a_control_character_in_a_name_queue_url_or_cron_is_422(
    api: Api, path: str, body: dict[str, Any], field: str, char: str
) -> None:
    # Given a field with a control character inside (C0, DEL or C1)
    value = str(body[field])
    middle = len(value) // 2
    # When the job is created
    # Then it is refused on that field
    refused(api, path, body | {field: value[:middle] + char + value[middle:]}, field)


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
@pytest.mark.parametrize(("path", "body"), HEADER_FIELDS, ids=[p for p, _ in HEADER_FIELDS])
def test_a_control_character_in_a_header_name_or_value_is_422(
    api: Api, path: str, body: dict[str, Any], char: str
) -> None:
    # Given headers with a control character in a name, then in a value
    # Then each is refused on headers
    refused(api, path, body | {"headers": {f"X-A{char}B": "v"}}, "headers")
    refused(api, path, body | {"headers": {"X-A": f"v{char}w"}}, "headers")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/jobs", QUEDUP | {"body": "a\x00b"}, "body"),
        ("/api/crons", CRON | {"payload": "a\x00b"}, "payload"),
        ("/api/jobs", PUSH | {"payload": {"a": ["ok", "b\x00"]}}, "payload"),
        ("/api/jobs", PUSH | {"payload": {"k\x00": 1}}, "payload"),
        (
            "/api/crons",
            CRON | {"success_assertions": [{"type": "body_contains", "value": "\x00"}]},
            "success_assertions.0.value",
        ),
    ],
    ids=["quedup body", "cron payload", "recuro payload value", "recuro payload key", "assertion value"],
)  # fmt: skip
def test_nul_in_a_body_or_payload_is_422(api: Api, path: str, body: dict[str, Any], field: str) -> None:
    # Given a body or payload with a NUL inside (PostgreSQL's text and jsonb cannot hold \u0000)
    # When the job is created
    messages = refused(api, path, body, field)
    # Then the 422 says why
    assert "NUL" in messages[0], messages


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/jobs", QUEDUP | {"body": "\x01\x1b[0m\t\r\n\x7f\x85 é 😀 שלום"}),
        ("/api/crons", CRON | {"payload": "\x01\x7f\x9f"}),
        ("/api/jobs", PUSH | {"payload": {"\x01": "\x1f\x7f\x80", "rtl": "مرحبا\u200f", "e\u0301": "😀"}}),
    ],
    ids=["quedup body", "cron payload", "recuro payload"],
)
def test_other_control_characters_in_bodies_are_data_and_accepted(api: Api, path: str, body: dict[str, Any]) -> None:
    # Given a body with control characters other than NUL, RTL text, combining marks and emoji
    # When the job is created
    r = api.client.post(path, json=body, headers=api.t1)
    # Then it is accepted: a body is the target's data
    assert r.status_code in (200, 201), r.text
