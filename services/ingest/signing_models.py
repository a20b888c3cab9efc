"""Request and response models of ``/api/signing-secret`` (services/ingest/routers/signing.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from chronohook.outbound.signing import MAX_GRACE
from services.ingest.models import LaravelBool, LaravelInt

MAX_GRACE_SECONDS = int(MAX_GRACE.total_seconds())
GraceSeconds = Field(
    default=None,
    ge=0,
    le=MAX_GRACE_SECONDS,
    description=f"How long the replaced secret keeps signing beside the new one, 0 to {MAX_GRACE_SECONDS} seconds "
    f"(default {MAX_GRACE_SECONDS}).",
)


class SigningSecret(BaseModel):
    """The tenant's signing secret, as a receiver needs it."""

    secret: str = Field(
        description="The current secret in Standard Webhooks' form: give it to `standardwebhooks.Webhook`.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )
    created_at: str = Field(description="When the current secret was made or imported.")
    previous_expires_at: str | None = Field(
        description="While the replaced secret still signs beside the current one (two signatures), until when."
    )
    recuro_compat: bool = Field(description="Whether requests also carry X-Recuro-Timestamp and X-Recuro-Signature.")
    recuro_secret: str | None = Field(
        description="With recuro_compat: the string Recuro's recipe keys its HMAC with (UTF-8). The imported secret "
        "as given, or the whsec_ secret's full text."
    )


class RotateSigningSecret(BaseModel):
    model_config = ConfigDict(extra="ignore")

    grace_seconds: LaravelInt | None = GraceSeconds


class UpdateSigningSecret(BaseModel):
    model_config = ConfigDict(extra="ignore")

    recuro_compat: LaravelBool | None = Field(default=None, description="Send Recuro's signature pair as well.")
    secret: StrictStr | None = Field(
        default=None,
        max_length=600,
        description="Import a secret your receivers already verify: Recuro's (16-512 printable ASCII characters) or "
        "a whsec_ one (24-64 bytes, base64). The one it replaces keeps signing for grace_seconds.",
    )
    grace_seconds: LaravelInt | None = GraceSeconds
