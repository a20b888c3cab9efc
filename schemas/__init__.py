"""The event contract: every record on chronohook's topics is one of these models, in one envelope."""

from schemas.codec import CodecError, EventCodec, decode_event, encode_event
from schemas.events import (
    CURRENT_SCHEMA_VERSION,
    Event,
    HttpRequestSpec,
    JobCreated,
    JobDeadLettered,
    JobDeleted,
    JobDue,
    JobFailed,
    JobPaused,
    JobPushed,
    JobResumed,
    JobRetryScheduled,
    JobSucceeded,
    JobUpdated,
    RetryPolicy,
    RunOutcome,
)

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "CodecError",
    "Event",
    "EventCodec",
    "HttpRequestSpec",
    "JobCreated",
    "JobDeadLettered",
    "JobDeleted",
    "JobDue",
    "JobFailed",
    "JobPaused",
    "JobPushed",
    "JobResumed",
    "JobRetryScheduled",
    "JobSucceeded",
    "JobUpdated",
    "RetryPolicy",
    "RunOutcome",
    "decode_event",
    "encode_event",
]
