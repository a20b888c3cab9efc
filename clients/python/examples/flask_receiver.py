"""A Flask endpoint that accepts only requests chronohook signed.

    pip install ./clients/python flask
    CHRONOHOOK_SIGNING_SECRET=whsec_... flask --app flask_receiver run --port 8787

The secret is the tenant's (`chronohook signing-secret show`, or `GET /api/signing-secret`). Verify the raw body,
exactly as received (`request.get_data()`): parse it only after it verified.
"""

from __future__ import annotations

import os
from typing import Any

from chronohook_client import WebhookVerificationError, verify_webhook
from flask import Flask, abort, request

app = Flask(__name__)


@app.post("/webhooks/chronohook")
def receive() -> dict[str, Any]:
    body = request.get_data()
    try:
        verify_webhook(request.headers, body, os.environ["CHRONOHOOK_SIGNING_SECRET"])
    except WebhookVerificationError as exc:
        abort(401, description=str(exc))
    payload = request.get_json(silent=True)
    # ... act on the payload. webhook-id is the same on every attempt of one delivery: use it to act once.
    return {"received": request.headers["webhook-id"], "payload": payload}
