"""Cancellation in the hand-over window: a due job the timer handed out early is not sent if its job was stopped.

The timer hands a ``JobDue`` to the executors ``timer_lead_ms`` before its due instant (decision 0006), and the
executor waits that out. A delete, purge or pause the user makes in that window reaches the timer too late to stop
the occurrence, but it reaches the executor, which reads the same job log: by its type header and its key (the job
id), so the stop costs no decoding. At the due instant, and again just before the send, the executor asks
``JobStops.holds_back``: the attempt is dropped when its job was deleted or purged, or (an occurrence of a
schedule) paused and not resumed since.

Either order in the log counts. A stop is usually after the ``JobDue`` (the timer fired, then the user deleted);
it is before it when the timer decided just before it read the stop (its transaction lands after the stop's
record), so stops are remembered for a while, not only matched against jobs waiting at that moment.

A one-off job paused in the window is still sent: the timer has handed its only occurrence out, and dropping it
here would lose the job for good, since nothing would fire it again on resume (docs/decisions/0027-*.md).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal

from schemas.events import JobDue

Stop = Literal["deleted", "paused"]

# The records the executor reads for stops; everything else it skips unread.
STOPPING: dict[str, Stop] = {"JobDeleted": "deleted", "JobPurged": "deleted", "JobPaused": "paused"}
RESUMING = frozenset({"JobResumed"})
WATCHED_TYPES = frozenset(STOPPING) | RESUMING
# Jobs whose last stop is remembered (least recently stopped forgotten first): ~100 bytes each, so a few MB at most.
# A stop only matters until the attempts handed out before it are past their due instant, well under a second.
REMEMBERED = 50_000


class JobStops:
    """The stops (deleted, paused) the executor has read, per job id, most recent last; bounded."""

    def __init__(self, capacity: int = REMEMBERED) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._stops: OrderedDict[str, Stop] = OrderedDict()

    def note(self, record_type: str | None, job_id: str) -> None:
        """Take a record of ``record_type`` about ``job_id`` read from the job log (any other type is ignored)."""
        stop = STOPPING.get(record_type or "")
        if stop is not None:
            if self._stops.get(job_id) == "deleted":
                return  # a deleted job stays deleted, whatever comes after
            self._stops[job_id] = stop
            self._stops.move_to_end(job_id)
            while len(self._stops) > self._capacity:
                self._stops.popitem(last=False)
        elif record_type in RESUMING and self._stops.get(job_id) == "paused":
            del self._stops[job_id]

    def holds_back(self, due: JobDue) -> Stop | None:
        """Why ``due`` must not be sent now (its job deleted; or paused, for an occurrence of a schedule), or None."""
        stop = self._stops.get(due.job_id)
        if stop == "paused" and due.next_run_at is None:
            return None  # a one-off's only occurrence: see the module's docstring
        return stop

    def __len__(self) -> int:
        return len(self._stops)
