"""Heartbeats: each timer, executor and projector process says in the shared database that its main loop is making
progress, and ``/readyz`` reads them (issue 17, decision 0042).

The main loop's only cost is a ``Pulse``: the stop flag it already asks once per iteration is a ``PulsingEvent``
(or ``PulsingAsyncEvent``) that notes the monotonic time of each ask. A ``Heartbeat`` thread writes, every
``heartbeat_interval_s``, the wall-clock instant of the last pulse into ``service_heartbeats``: a loop that is stuck
(blocked in a call, or the process SIGSTOPped: then nothing at all is written) leaves its row ageing, and
``stalled`` finds it once it is older than ``heartbeat_stale_s``. A row older than ``heartbeat_gone_s`` is a process
that died without saying so (kill -9, a lost machine): it no longer counts, so a replaced process does not keep
``/readyz`` at 503. A clean stop deletes the row.

The verdict is a pure function of the rows and the time (``stalled``); the writes are one upsert per interval.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from chronohook.settings import Settings
from chronohook.store.tables import service_heartbeats

log = logging.getLogger("chronohook.heartbeats")

# The services /readyz watches.
WATCHED = ("timer", "executor", "projector")


class Pulse:
    """The monotonic instant a main loop last went round; read by the heartbeat thread and ``/livez``."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = time.monotonic()

    def beat(self) -> None:
        self.last = time.monotonic()

    def age(self) -> float:
        """Seconds since the loop last went round."""
        return time.monotonic() - self.last


class PulsingEvent(threading.Event):
    """A stop flag whose every ``is_set`` is a pulse: a ``while not stop.is_set()`` loop beats as it goes round."""

    def __init__(self, pulse: Pulse) -> None:
        super().__init__()
        self.pulse = pulse

    def is_set(self) -> bool:
        self.pulse.last = time.monotonic()
        return super().is_set()


class PulsingAsyncEvent(asyncio.Event):
    """The asyncio flavour of ``PulsingEvent`` (the executor's ``stopping``)."""

    def __init__(self, pulse: Pulse) -> None:
        super().__init__()
        self.pulse = pulse

    def is_set(self) -> bool:
        self.pulse.last = time.monotonic()
        return super().is_set()


@dataclass(frozen=True)
class Beat:
    service: str
    instance: str
    beat_ms: int


@dataclass(frozen=True)
class Stalled:
    service: str
    instance: str
    seconds: float  # since its loop last made progress

    def describe(self) -> str:
        return f"{self.service} ({self.instance}): no progress for {self.seconds:.0f} s"


def stalled(beats: Iterable[Beat], now_ms: int, stale_s: float, gone_s: float) -> list[Stalled]:
    """The processes that stopped making progress: a beat older than ``stale_s`` but not yet ``gone_s`` (older: a
    process gone, not counted). In service, then instance order."""
    found = []
    for beat in beats:
        age = (now_ms - beat.beat_ms) / 1000
        if stale_s < age <= gone_s:
            found.append(Stalled(beat.service, beat.instance, age))
    return sorted(found, key=lambda s: (s.service, s.instance))


def read_beats(engine: Engine) -> list[Beat]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(service_heartbeats.c.service, service_heartbeats.c.instance, service_heartbeats.c.beat_ms)
        ).all()
    return [Beat(str(r.service), str(r.instance), int(r.beat_ms)) for r in rows]


def instance_name(settings: Settings) -> str:
    """The process's name in its row: its group instance id (the same across a supervisor's restarts, so a restarted
    process takes its predecessor's row at once), else host:pid."""
    return settings.group_instance_id or f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """Writes this process's row every ``interval`` from a daemon thread; ``stop`` deletes it."""

    def __init__(
        self,
        engine: Engine,
        service: str,
        instance: str,
        pulse: Pulse,
        interval: float,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.engine = engine
        self.service = service
        self.instance = instance
        self.pulse = pulse
        self.interval = interval
        self.wall_ms = wall_ms
        self.started_ms = wall_ms()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{service}-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._write()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._write()

    def _write(self) -> None:
        # The instant of the last pulse, not of this write: a stuck loop's row ages while this thread runs on.
        beat_ms = self.wall_ms() - int(self.pulse.age() * 1000)
        table = service_heartbeats
        where = (table.c.service == self.service) & (table.c.instance == self.instance)
        try:
            with self.engine.begin() as conn:
                if conn.execute(update(table).where(where).values(beat_ms=beat_ms)).rowcount == 0:
                    conn.execute(
                        table.insert().values(
                            service=self.service, instance=self.instance, beat_ms=beat_ms, started_ms=self.started_ms
                        )
                    )
        except SQLAlchemyError as exc:  # the database away a moment: the next beat tries again
            log.warning("heartbeat of %s not recorded: %s", self.service, type(exc).__name__)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        table = service_heartbeats
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    delete(table).where((table.c.service == self.service) & (table.c.instance == self.instance))
                )
        except SQLAlchemyError as exc:
            log.warning("heartbeat of %s not removed: %s", self.service, type(exc).__name__)
