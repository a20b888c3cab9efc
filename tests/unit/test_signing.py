"""Signing outbound requests: the Standard Webhooks test vector, rotation windows, Recuro's recipe, imported secrets,
the stored secrets and the executor's cached port (chronohook/outbound/signing.py, chronohook/store/signing_secrets.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from chronohook.outbound.signing import (
    InvalidSecret,
    SigningKeys,
    check_secret,
    new_secret,
    signature_headers,
    signed,
    standard_secret,
)
from chronohook.store import signing_secrets as store
from chronohook.store.engine import create_schema, make_engine
from schemas.events import CallbackDue, HttpRequestSpec, JobDue
from services.executor.callbacks import signed_callback_headers
from services.executor.runs import signed_request_headers, webhook_id

# The spec's published test vector (Standard Webhooks, "Verifying webhooks").
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = '{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
T0 = datetime(2026, 12, 2, 4, 0, 0, tzinfo=UTC)


def recuro_recipe(secret: str, timestamp: str, raw_body: bytes) -> str:
    """Recuro's documented receiver check, written out independently: lowercase hex HMAC-SHA256(secret, "{ts}.{body}")
    with the secret string as the key."""
    return hmac.new(secret.encode("utf-8"), timestamp.encode() + b"." + raw_body, hashlib.sha256).hexdigest()


def verify_now(secret: str, body: str, headers: dict[str, str]) -> None:
    """The standardwebhooks verifier checks the timestamp against the real clock: sign at the real time to use it."""
    Webhook(secret).verify(body, headers)


# -- the signature -------------------------------------------------------------------------------------------------
def test_the_spec_test_vector_passes() -> None:
    # Given the spec's secret, id, timestamp and body
    keys = SigningKeys(VECTOR_SECRET, T0)
    # When signing
    headers = signature_headers(keys, VECTOR_ID, VECTOR_BODY, datetime.fromtimestamp(VECTOR_TIMESTAMP, UTC))
    # Then the headers are the spec's, signature included
    assert headers == {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }


def test_a_signature_verifies_with_the_standardwebhooks_package() -> None:
    # Given a fresh secret and a body with non-ASCII text
    secret = new_secret()
    body = '{"greeting": "grüß dich", "n": 1}'
    # When signed at the current time
    headers = signature_headers(SigningKeys(secret, T0), "msg_1", body, datetime.now(UTC))
    # Then the package's verifier accepts it, as text and as the UTF-8 bytes on the wire
    verify_now(secret, body, headers)
    Webhook(secret).verify(body.encode(), headers)
    # And a changed body does not verify
    with pytest.raises(WebhookVerificationError):
        verify_now(secret, body.replace("1", "2"), headers)


def test_a_new_secret_has_the_spec_format() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert new_secret() != secret


def test_a_bodiless_request_signs_the_empty_body() -> None:
    secret = new_secret()
    headers = signature_headers(SigningKeys(secret, T0), "msg_1", None, datetime.now(UTC))
    Webhook(secret).verify(b"", headers, json_parse=False)


# -- rotation --------------------------------------------------------------------------------------------------------
def test_during_the_grace_period_two_signatures_each_verifying_with_one_secret() -> None:
    # Given keys rotated at T0 with a one-hour grace period
    old, new = new_secret(), new_secret()
    keys = SigningKeys(new, T0, previous=old, previous_expires_at=T0 + timedelta(hours=1))
    now = datetime.now(UTC)
    # When signing inside the grace period (the clock is passed in)
    inside = signature_headers(keys, "msg_1", "{}", T0 + timedelta(minutes=59))
    # Then there are two space-separated v1 signatures, the new secret's first
    signatures = inside["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    assert (
        signatures[0]
        == signature_headers(SigningKeys(new, T0), "msg_1", "{}", T0 + timedelta(minutes=59))["webhook-signature"]
    )
    # And a receiver holding either secret verifies (signed at the real time for the package's tolerance)
    real = signature_headers(
        SigningKeys(new, T0, previous=old, previous_expires_at=now + timedelta(hours=1)), "m", "{}", now
    )
    verify_now(old, "{}", real)
    verify_now(new, "{}", real)


def test_after_the_grace_period_only_the_new_secret_signs() -> None:
    old, new = new_secret(), new_secret()
    keys = SigningKeys(new, T0, previous=old, previous_expires_at=T0 + timedelta(hours=1))
    # When signing at the expiry instant and after it
    for at in (T0 + timedelta(hours=1), T0 + timedelta(days=2)):
        headers = signature_headers(keys, "msg_1", "{}", at)
        # Then one signature: the new secret's
        assert " " not in headers["webhook-signature"]
    assert keys.live(T0 + timedelta(hours=1)).previous is None
    assert keys.live(T0).previous == old


# -- Recuro's pair ---------------------------------------------------------------------------------------------------
def test_recuro_compat_adds_recuros_pair_verifying_with_recuros_recipe() -> None:
    # Given a tenant that imported its Recuro secret and switched the pair on
    recuro_secret = "rk_live_4f9a8b7c6d5e4f3a2b1c"
    keys = SigningKeys(recuro_secret, T0, recuro_compat=True)
    body = '{"user_id": 42, "name": "Zoë"}'
    # When signing
    headers = signature_headers(keys, "msg_1", body, T0)
    # Then Recuro's headers are there, the timestamp in Unix seconds, verifying with Recuro's recipe over the raw bytes
    assert headers["X-Recuro-Timestamp"] == str(int(T0.timestamp())) == headers["webhook-timestamp"]
    expected = recuro_recipe(recuro_secret, headers["X-Recuro-Timestamp"], body.encode())
    assert hmac.compare_digest(headers["X-Recuro-Signature"], expected)
    assert headers["X-Recuro-Signature"] == headers["X-Recuro-Signature"].lower()
    # And the Standard Webhooks signature uses the same key bytes, as the whsec_ form shown by the API
    now = datetime.now(UTC)
    verify_now(standard_secret(recuro_secret), body, signature_headers(keys, "m", body, now))


def test_a_generated_secret_in_recuro_mode_keys_recuros_recipe_with_its_full_text() -> None:
    secret = new_secret()
    headers = signature_headers(SigningKeys(secret, T0, recuro_compat=True), "m", "x", T0)
    assert headers["X-Recuro-Signature"] == recuro_recipe(secret, headers["X-Recuro-Timestamp"], b"x")


def test_without_recuro_compat_no_recuro_headers() -> None:
    headers = signature_headers(SigningKeys(new_secret(), T0), "m", "x", T0)
    assert not any(name.lower().startswith("x-recuro") for name in headers)


def test_a_jobs_own_signature_headers_are_replaced_never_sent_beside_ours() -> None:
    # Given user headers naming our signature headers in another case
    user = {"Webhook-Signature": "v1,forged", "X-Recuro-Signature": "forged", "X-Other": "kept"}
    # When signed
    headers = signed(user, SigningKeys(new_secret(), T0, recuro_compat=True), "m", "x", T0)
    # Then only ours remain, and other headers are kept
    assert "Webhook-Signature" not in headers and headers["webhook-signature"] != "v1,forged"
    assert headers["X-Recuro-Signature"] != "forged"
    assert headers["X-Other"] == "kept"


# -- imported secrets --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "secret",
    [
        "rk_live_4f9a8b7c6d5e4f3a2b1c",
        "a" * 16,
        "!" * 512,
        VECTOR_SECRET,  # 24 bytes
        "whsec_" + base64.b64encode(b"k" * 64).decode(),
    ],
)
def test_importable_secrets(secret: str) -> None:
    check_secret(secret)


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("short", "16 to 512 characters"),
        ("a" * 513, "16 to 512 characters"),
        ("has a space in it!!", "printable ASCII"),
        ("ünïcode-secret-value", "printable ASCII"),
        ("tab\tinside-the-secret", "printable ASCII"),
        ("whsec_not*base64", "base64"),
        ("whsec_" + base64.b64encode(b"k" * 23).decode(), "24 to 64 bytes"),
        ("whsec_" + base64.b64encode(b"k" * 65).decode(), "24 to 64 bytes"),
    ],
)
def test_unimportable_secrets_are_refused_without_quoting_them(secret: str, why: str) -> None:
    with pytest.raises(InvalidSecret) as caught:
        check_secret(secret)
    assert why in str(caught.value)
    assert secret not in str(caught.value)


# -- what the executor signs -------------------------------------------------------------------------------------------
def _due(run_id: str = "qj_1:1795470547979:3", webhook: str | None = None) -> JobDue:
    return JobDue(
        event_id="e",
        job_id="qj_1",
        tenant="t1",
        occurred_at=T0,
        run_id=run_id,
        due_at=T0,
        attempt=3,
        request=HttpRequestSpec(method="POST", url="http://127.0.0.2/x", body='{"a": 1}', headers={"X-Mine": "1"}),
        webhook_id=webhook,
    )


def test_webhook_id_is_the_same_on_every_attempt_of_an_occurrence() -> None:
    assert webhook_id(_due("qj_1:1795470547979:1")) == webhook_id(_due("qj_1:1795470547979:3")) == "qj_1:1795470547979"
    assert webhook_id(_due("qj_1:1795470600000:1")) != webhook_id(_due("qj_1:1795470547979:1"))
    # A Recuro retry carries its original's id (set by the timer)
    assert webhook_id(_due(webhook="rj_9:1795470547979")) == "rj_9:1795470547979"


def test_a_jobs_request_headers_are_signed_over_its_exact_body() -> None:
    secret = new_secret()
    due = _due()
    now = datetime.now(UTC)
    headers = signed_request_headers(due, SigningKeys(secret, T0), now)
    assert headers["X-Mine"] == "1" and headers["X-Chronohook-Run-Id"] == due.run_id
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert due.request.body is not None
    Webhook(secret).verify(due.request.body.encode(), headers)
    assert secret not in repr(headers)


def test_a_callbacks_headers_are_signed_with_its_callback_id() -> None:
    secret = new_secret()
    due = CallbackDue(
        event_id="e",
        job_id="rj_1",
        tenant="t1",
        occurred_at=T0,
        callback_id="cb:rj_1:1:1",
        run_id="rj_1:1:1",
        url="http://127.0.0.2/cb",
        body='{"version": 1}',
        attempt=2,
        due_at=T0,
    )
    headers = signed_callback_headers(due, SigningKeys(secret, T0), datetime.now(UTC))
    assert headers["webhook-id"] == due.callback_id
    Webhook(secret).verify(due.body, headers)


# -- stored secrets ----------------------------------------------------------------------------------------------------
@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    create_schema(e)
    try:
        yield e
    finally:
        e.dispose()


def test_a_secret_is_made_on_first_use_and_then_kept(engine: Engine) -> None:
    # When two readers ask for a tenant's keys
    first = store.signing_keys(engine, "t1", T0)
    again = store.signing_keys(engine, "t1", T0 + timedelta(hours=1))
    # Then the first made one, the second got the same; another tenant gets its own
    assert first.secret.startswith("whsec_") and first.secret == again.secret
    assert first.created_at == T0
    assert store.signing_keys(engine, "t2", T0).secret != first.secret


def test_rotation_keeps_the_old_secret_for_the_grace_period(engine: Engine) -> None:
    # Given a tenant's secret
    old = store.signing_keys(engine, "t1", T0).secret
    # When rotating with a 10-minute grace period
    rotated = store.rotate(engine, "t1", T0 + timedelta(hours=1), timedelta(minutes=10))
    # Then the new secret signs with the old beside it until the end of the grace period
    assert rotated.secret != old and rotated.previous == old
    assert rotated.previous_expires_at == T0 + timedelta(hours=1, minutes=10)
    assert store.signing_keys(engine, "t1", T0 + timedelta(hours=1, minutes=9)).previous == old
    assert store.signing_keys(engine, "t1", T0 + timedelta(hours=1, minutes=10)).previous is None
    # And a rotation with no grace period drops the old one at once
    assert store.rotate(engine, "t1", T0 + timedelta(hours=2), timedelta(0)).previous is None


def test_import_and_recuro_compat(engine: Engine) -> None:
    generated = store.signing_keys(engine, "t1", T0).secret
    keys = store.import_secret(engine, "t1", "rk_live_4f9a8b7c6d5e4f3a2b1c", T0)
    assert keys.secret == "rk_live_4f9a8b7c6d5e4f3a2b1c" and keys.previous == generated
    assert not keys.recuro_compat
    assert store.set_recuro_compat(engine, "t1", True, T0).recuro_compat
    assert store.signing_keys(engine, "t1", T0).recuro_compat
    # Importing the same secret again changes nothing (the previous one keeps its own expiry)
    again = store.import_secret(engine, "t1", "rk_live_4f9a8b7c6d5e4f3a2b1c", T0 + timedelta(minutes=1))
    assert again.previous == generated and again.previous_expires_at == keys.previous_expires_at
    with pytest.raises(InvalidSecret):
        store.import_secret(engine, "t1", "short", T0)


# -- the executor's cached port ----------------------------------------------------------------------------------------
def test_the_cached_keys_follow_a_rotation_within_the_ttl(engine: Engine) -> None:
    # Given the executor's port on a 5-second cache, with a hand-moved monotonic clock
    ticks = [0.0]
    now = [T0]
    port = store.StoredSigningKeys(engine, lambda: now[0], ttl=5.0, monotonic=lambda: ticks[0])
    first = asyncio.run(port.keys("t1"))
    # When the secret is rotated elsewhere (ingest)
    rotated = store.rotate(engine, "t1", T0, timedelta(minutes=1))
    # Then the cache serves the old keys until the TTL passes, then the new ones
    ticks[0] = 4.9
    assert asyncio.run(port.keys("t1")).secret == first.secret
    ticks[0] = 5.0
    assert asyncio.run(port.keys("t1")).secret == rotated.secret
    # And the grace period is applied at the passed-in time, cached or not
    now[0] = T0 + timedelta(minutes=1)
    assert asyncio.run(port.keys("t1")).previous is None


def test_the_cached_keys_survive_a_database_error_once_cached(engine: Engine, tmp_path: Path) -> None:
    ticks = [0.0]
    port = store.StoredSigningKeys(engine, lambda: T0, ttl=5.0, monotonic=lambda: ticks[0])
    first = asyncio.run(port.keys("t1"))
    engine.dispose()
    (tmp_path / "db.sqlite").unlink()
    (tmp_path / "db.sqlite").mkdir()  # the file is gone: any read fails
    ticks[0] = 10.0
    assert asyncio.run(port.keys("t1")).secret == first.secret
    # A tenant never read cannot be signed for: the error propagates (nothing is sent unsigned)
    with pytest.raises(Exception, match=r"(?i)database|unable|directory|no such"):
        asyncio.run(port.keys("t2"))
