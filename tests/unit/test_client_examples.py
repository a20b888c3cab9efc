"""The FastAPI receiver example (clients/python/examples) accepts a request chronohook signed and refuses a tampered
one. (The Flask example is the same three lines around Flask's request; Flask is not a dependency here.)"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from chronohook.outbound.signing import SigningKeys, new_secret, signature_headers

EXAMPLES = Path(__file__).resolve().parents[2] / "clients" / "python" / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fastapi_example_accepts_only_signed_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the example app and the tenant's secret in its environment
    secret = new_secret()
    monkeypatch.setenv("CHRONOHOOK_SIGNING_SECRET", secret)
    example = load("fastapi_receiver")
    body = '{"order": 42}'
    now = datetime.now(UTC)
    headers = signature_headers(SigningKeys(secret, now), "rj_7:1", body, now)
    with TestClient(example.app) as client:
        # When chronohook's request arrives, Then it is accepted and parsed
        ok = client.post("/webhooks/chronohook", content=body, headers=headers)
        assert ok.status_code == 200 and ok.json() == {"received": "rj_7:1", "payload": {"order": 42}}
        # When its body was changed on the way, or it is unsigned, Then it is refused
        assert client.post("/webhooks/chronohook", content='{"order": 43}', headers=headers).status_code == 401
        assert client.post("/webhooks/chronohook", content=body).status_code == 401


def test_the_flask_example_is_valid_python() -> None:
    # Flask is not installed here: the example compiles, and uses the same verify_webhook call
    source = (EXAMPLES / "flask_receiver.py").read_text(encoding="utf-8")
    compile(source, "flask_receiver.py", "exec")
    assert "verify_webhook(request.headers, body," in source
