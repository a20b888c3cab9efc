"""``verify_webhook`` (clients/python) against what the sender signs (chronohook/outbound/signing.py): both header sets,
rotations, imported Recuro secrets, timestamps and tampering, table-driven."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from chronohook_client import WebhookVerificationError, verify_webhook

from chronohook.outbound.signing import SigningKeys, new_secret, signature_headers, standard_secret

NOW = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)
BODY = '{"to":"user@example.com","note":"é"}'
GENERATED = new_secret()
OTHER = new_secret()
IMPORTED = "recuro-secret-0123456789abcdef"  # a Recuro secret as a tenant imports it (no whsec_ prefix)


def signed(
    secret: str = GENERATED, *, recuro: bool = False, previous: str | None = None, body: str = BODY
) -> dict[str, str]:
    keys = SigningKeys(
        secret,
        NOW,
        previous=previous,
        previous_expires_at=None if previous is None else NOW + timedelta(hours=1),
        recuro_compat=recuro,
    )
    return signature_headers(keys, "rj_1:1775829900000", body, NOW)


def at(delta_s: float = 0.0) -> float:
    return NOW.timestamp() + delta_s


def without(headers: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in {n.lower() for n in names}}


ACCEPTED: list[tuple[str, Callable[[], dict[str, str]], str | list[str]]] = [
    ("standard headers, generated secret", lambda: signed(), GENERATED),
    ("both sets, generated secret", lambda: signed(recuro=True), GENERATED),
    (
        "imported secret, verified with its whsec_ form",
        lambda: signed(IMPORTED, recuro=True),
        standard_secret(IMPORTED),
    ),
    ("imported secret, verified with the secret as imported", lambda: signed(IMPORTED, recuro=True), IMPORTED),
    ("during a rotation, the receiver still on the old secret", lambda: signed(GENERATED, previous=OTHER), OTHER),
    ("the receiver holding two secrets", lambda: signed(OTHER), [GENERATED, OTHER]),
    ("names in any case", lambda: {k.upper(): v for k, v in signed(recuro=True).items()}, GENERATED),
    (
        "only Recuro's pair",
        lambda: without(signed(recuro=True), *("webhook-id", "webhook-timestamp", "webhook-signature")),
        GENERATED,
    ),
]


@pytest.mark.parametrize(("make", "secret"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_a_request_chronohook_signed_verifies(make: Callable[[], dict[str, str]], secret: str) -> None:
    # Given headers the sender made for BODY
    headers = make()
    # When the receiver verifies them with the secret it holds (bytes or text, a mapping or pairs, now or 299 s
    # later), Then nothing is raised
    verify_webhook(headers, BODY.encode(), secret, now=at())
    verify_webhook(list(headers.items()), BODY, secret, now=at(299))


REFUSED: list[tuple[str, Callable[[], dict[str, str]], bytes, float, str]] = [
    ("a tampered body", lambda: signed(recuro=True), BODY.encode() + b" ", 0, "does not match"),
    ("the wrong secret", lambda: signed(OTHER), BODY.encode(), 0, "does not match"),
    ("too old", lambda: signed(), BODY.encode(), 301, "too old"),
    ("from the future", lambda: signed(), BODY.encode(), -301, "future"),
    ("no signature headers", lambda: {"content-type": "application/json"}, BODY.encode(), 0, "no signature"),
    ("a set half there", lambda: without(signed(), "webhook-signature"), BODY.encode(), 0, "Missing"),
    (
        "a bad Recuro pair beside good standard headers",
        lambda: {**signed(recuro=True), "X-Recuro-Signature": "0" * 64},
        BODY.encode(),
        0,
        "X-Recuro",
    ),
    ("no v1 signature", lambda: {**signed(), "webhook-signature": "v2,abc"}, BODY.encode(), 0, "no v1"),
    (
        "a timestamp that is no number",
        lambda: {**signed(), "webhook-timestamp": "soon"},
        BODY.encode(),
        0,
        "whole number",
    ),
]


@pytest.mark.parametrize(("make", "body", "late", "why"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_anything_else_is_refused(make: Callable[[], dict[str, str]], body: bytes, late: float, why: str) -> None:
    # Given headers and a body that do not hold together (or a clock far from the timestamp)
    headers = make()
    # When verified, Then WebhookVerificationError says why
    with pytest.raises(WebhookVerificationError, match=why):
        verify_webhook(headers, body, GENERATED, now=at(late))


def test_a_malformed_whsec_secret_is_an_error_not_a_crash() -> None:
    # Given a secret that is whsec_ followed by something that is not base64
    bad = "whsec_" + "!" * 20
    # When used to verify, Then the error is the verification error
    with pytest.raises(WebhookVerificationError):
        verify_webhook(signed(), BODY, bad, now=at())
    assert base64.b64decode(GENERATED.removeprefix("whsec_"))  # the good one decodes
