"""Signed requests end to end: what the running stack sends to the loopback receiver verifies with the secret from
``GET /api/signing-secret`` (via the ``standardwebhooks`` package), across a rotation, in Recuro's recipe for a
tenant that switched it on, and for callbacks too.

Each test signs as a tenant of its own, so its rotations and imports touch no other test's tenant.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from chronohook.store.engine import make_engine
from chronohook.store.tokens import create_token
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Received, Receiver

PATH = "/api/signing-secret"
# Past the executor's 5-second key cache: a job due this late is signed with the keys read after a change.
AFTER_THE_CACHE = 6


@pytest.fixture
def own(stack: Stack) -> Iterator[httpx.Client]:
    """A client for a fresh tenant of this test's own."""
    engine = make_engine(stack.settings.resolved_database_url)
    try:
        token = create_token(engine, f"signing-{secrets.token_hex(4)}")
    finally:
        engine.dispose()
    with stack.client(token) as client:
        yield client


def recuro_recipe(secret: str, timestamp: str, raw_body: bytes) -> str:
    """Recuro's documented check, written out here on its own: hex HMAC-SHA256(secret, "{timestamp}.{raw body}")."""
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + raw_body, hashlib.sha256).hexdigest()


def _secret(client: httpx.Client) -> dict[str, Any]:
    r = client.get(PATH)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _push(client: httpx.Client, receiver: Receiver, path: str, **extra: Any) -> int:
    r = client.post("/api/jobs", json={"queue": "signed", "url": receiver.url(path), "payload": {"n": path}, **extra})
    assert r.status_code == 201, r.text
    job_id: int = r.json()["job_id"]
    return job_id


def _delivered(receiver: Receiver, path: str, timeout: float = 30) -> Received:
    [got] = receiver.wait_for(lambda q: q.path == path, timeout=timeout)
    return got


def test_a_delivered_job_verifies_with_the_secret_from_the_api(
    stack: Stack, receiver: Receiver, own: httpx.Client
) -> None:
    # Given the tenant's secret, read from the API
    secret = _secret(own)["secret"]
    # When a job is delivered to the receiver
    path = f"/signed/{secrets.token_hex(4)}"
    job_id = _push(own, receiver, path)
    got = _delivered(receiver, path)
    # Then it carries the three headers and verifies with the standardwebhooks package over the body received
    assert got.headers["webhook-id"] and got.headers["webhook-timestamp"].isdigit()
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    assert Webhook(secret).verify(got.body.encode(), got.headers) == {"n": path}
    # And not with another secret, nor with a changed body
    with pytest.raises(WebhookVerificationError):
        Webhook(_secret(stack.client())["secret"]).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body.replace("signed", "forged"), got.headers)
    # And the run's recorded request headers hold the signature, never the secret
    runs = eventually(
        lambda: r if (r := own.get(f"/api/jobs/{job_id}/runs")).status_code == 200 and "webhook-signature" in r.text
        else None,
        what="the run recorded with its signature headers",
    )  # fmt: skip
    assert secret not in runs.text and secret.removeprefix("whsec_") not in runs.text


def test_after_a_rotation_a_delivery_carries_two_signatures_each_verifying(
    receiver: Receiver, own: httpx.Client
) -> None:
    # Given the tenant's secret, then a rotation
    old = _secret(own)["secret"]
    r = own.post(f"{PATH}/rotate")
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new != old and r.json()["previous_expires_at"] is not None
    # When a job due after the executor's cache is delivered
    path = f"/rotated/{secrets.token_hex(4)}"
    _push(own, receiver, path, delay=AFTER_THE_CACHE)
    got = _delivered(receiver, path)
    # Then it carries two v1 signatures, and a receiver holding either secret verifies it
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(got.body, got.headers)
    Webhook(new).verify(got.body, got.headers)


def test_a_recuro_compatible_tenants_request_verifies_with_recuros_recipe(
    receiver: Receiver, own: httpx.Client
) -> None:
    # Given a tenant that imports the secret its Recuro receivers verify and switches Recuro's pair on
    recuro_secret = "rk_" + secrets.token_hex(20)
    r = own.put(PATH, json={"recuro_compat": True, "secret": recuro_secret})
    assert r.status_code == 200, r.text
    assert r.json()["recuro_secret"] == recuro_secret
    # When a job due after the executor's cache is delivered
    path = f"/recuro/{secrets.token_hex(4)}"
    _push(own, receiver, path, delay=AFTER_THE_CACHE)
    got = _delivered(receiver, path)
    # Then Recuro's pair verifies with Recuro's recipe over the raw body, the timestamp in Unix seconds
    timestamp = got.headers["X-Recuro-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    assert hmac.compare_digest(
        got.headers["X-Recuro-Signature"], recuro_recipe(recuro_secret, timestamp, got.body.encode())
    )
    # And the Standard Webhooks headers verify with the secret as the API shows it
    Webhook(_secret(own)["secret"]).verify(got.body, got.headers)


def test_a_callback_is_signed_and_versioned(receiver: Receiver, own: httpx.Client) -> None:
    # Given the tenant's secret and a job with a callback_url
    secret = _secret(own)["secret"]
    path, callback = f"/cb-job/{secrets.token_hex(4)}", f"/cb/{secrets.token_hex(4)}"
    job_id = _push(own, receiver, path, callback_url=receiver.url(callback))
    # When the run completes and its callback is POSTed
    got = _delivered(receiver, callback)
    # Then the callback verifies, its webhook-id is its callback id, and its body is the documented, versioned one
    body = Webhook(secret).verify(got.body, got.headers)
    assert got.headers["webhook-id"] == got.headers["X-Chronohook-Callback-Id"]
    assert body["version"] == 1 and body["job_id"] == job_id
    assert (body["status"], body["final_status"]) == ("completed", "success")
    assert json.loads(got.body) == body


def test_tenants_have_their_own_secrets(stack: Stack, own: httpx.Client) -> None:
    # When two tenants read their secrets
    mine = _secret(own)["secret"]
    with stack.client(stack.other_token) as other:
        theirs = _secret(other)["secret"]
    # Then they differ
    assert mine != theirs
