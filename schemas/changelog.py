"""What the timer keeps per pending job. Persisted to the compacted changelog topic, keyed by job id."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas.events import Api, HttpRequestSpec, RetryPolicy


class RetrySlot(BaseModel):
    model_config = ConfigDict(frozen=True)

    due_at: AwareDatetime
    attempt: int
    occurrence: AwareDatetime


class TimerEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    tenant: str
    api: Api
    request: HttpRequestSpec
    retry: RetryPolicy
    callback_url: str | None = None
    schedule: str | None = None
    # The schedule's next occurrence (or the one-off's due time); None once handed out.
    next_due: AwareDatetime | None = None
    retry_slot: RetrySlot | None = None
    paused: bool = False
    # Runs handed to executors whose result has not come back; a result for any other run is ignored.
    in_flight: tuple[str, ...] = ()
    # Recuro pushes: what a retry needs to push the next attempt as a new job.
    integer_id: int | None = None
    queue: str | None = None
    queue_id: int | None = None
    payload: dict[str, object] | None = None
    attempt_number: int = 1

    def wake_at(self) -> AwareDatetime | None:
        """The earliest moment this entry has something to fire."""
        if self.paused:
            return None
        times = [t for t in (self.next_due, self.retry_slot.due_at if self.retry_slot else None) if t]
        return min(times) if times else None

    @property
    def done(self) -> bool:
        return self.next_due is None and self.retry_slot is None and not self.in_flight
