"""A FastAPI endpoint that accepts only requests chronohook signed.

    pip install ./clients/python fastapi uvicorn
    CHRONOHOOK_SIGNING_SECRET=whsec_... uvicorn fastapi_receiver:app --port 8787

The secret is the tenant's (`chronohook signing-secret show`, or `GET /api/signing-secret`). Verify the raw body,
exactly as received: parse it only after it verified.
"""

from __future__ import annotations

import json
import os
from typing import Any

from chronohook_client import WebhookVerificationError, verify_webhook
from fastapi import FastAPI, HTTPException, Request

app = FastAPI()


def signing_secret() -> str:
    return os.environ["CHRONOHOOK_SIGNING_SECRET"]


@app.post("/webhooks/chronohook")
async def receive(request: Request) -> dict[str, Any]:
    body = await request.body()
    try:
        verify_webhook(request.headers, body, signing_secret())
    except WebhookVerificationError as exc:
        raise HTTPException(status_code=401, detail=str(exc)) from None
    payload = json.loads(body) if body else None
    # ... act on the payload. webhook-id is the same on every attempt of one delivery: use it to act once.
    return {"received": request.headers["webhook-id"], "payload": payload}
