"""A record set aside on ``<prefix>.dead-records``: the original bytes as they were, and why, in headers.

The record's key and value are the bad record's own, byte for byte (no base64, no envelope): an operator can read
them as they came, and replay one by producing it back to its source topic once the cause is fixed. Everything
chronohook adds rides in headers named ``chronohook.dead.*``, described by ``DeadRecord``; the bad record's own
headers (its ``type`` among them) are kept before ours. A value too large to fit beside our headers is cut, and
``chronohook.dead.value-bytes`` says how long it was; source headers past a size budget are left out, and
``chronohook.dead.headers-dropped`` says how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

HEADER_PREFIX: Final = "chronohook.dead."
# The reason is an exception's type and message: capped, since a message may quote the bad record itself.
MAX_REASON_CHARS: Final = 1000

HeaderList = Sequence[tuple[str, str | bytes | None]]


class DeadRecord(BaseModel):
    """What chronohook says about a record it set aside, carried in the record's ``chronohook.dead.*`` headers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_topic: str = Field(description="The topic it was read from, e.g. chronohook.job-events.")
    source_partition: int = Field(description="Its partition there.")
    source_offset: int = Field(description="Its offset there.")
    consumer: str = Field(description="The consumer that could not decode or apply it: timer, executor, projector...")
    reason: str = Field(max_length=MAX_REASON_CHARS, description="The error's type and message.")
    dead_at: AwareDatetime = Field(description="When it was set aside.")
    value_bytes: int | None = Field(
        default=None, description="Length of the original value when it was cut to fit; absent when kept whole."
    )
    headers_dropped: int | None = Field(
        default=None, description="How many of the source's headers were left out to fit; absent when all are kept."
    )

    def headers(self) -> list[tuple[str, bytes]]:
        fields = self.model_dump(mode="json", exclude_none=True)
        return [(HEADER_PREFIX + name.replace("_", "-"), str(value).encode()) for name, value in fields.items()]

    @classmethod
    def from_headers(cls, headers: HeaderList) -> DeadRecord:
        """Read ours back (the last of each name wins); raises pydantic's ValidationError when any is missing."""
        found: dict[str, str] = {}
        for name, value in headers:
            if name.startswith(HEADER_PREFIX) and value is not None:
                text = value.decode(errors="replace") if isinstance(value, bytes) else value
                found[name.removeprefix(HEADER_PREFIX).replace("-", "_")] = text
        return cls.model_validate(found)
