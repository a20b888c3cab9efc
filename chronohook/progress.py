"""Progress of a long command: a bar with rate and ETA on a terminal (rich), plain lines every few seconds elsewhere."""

from __future__ import annotations

import sys
import time
from typing import IO, Any


class LineProgress:
    """One line every ``every`` seconds, and one at the end: for logs and pipes."""

    def __init__(self, what: str, unit: str = "events", stream: IO[str] | None = None, every: float = 5.0) -> None:
        self.what, self.unit, self.every = what, unit, every
        self.stream = stream or sys.stderr
        self.total = self.done = 0
        self.started = self.last = 0.0

    def start(self, total: int) -> None:
        self.total, self.done = total, 0
        self.started = self.last = time.monotonic()

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._line(now)

    def finish(self) -> None:
        self.total = self.done  # the total was an estimate from offsets (transaction markers take offsets too)
        self._line(time.monotonic())

    def _line(self, now: float) -> None:
        took = max(now - self.started, 1e-9)
        rate = self.done / took
        pct = 100.0 * self.done / self.total if self.total else 100.0
        left = max(self.total - self.done, 0)
        eta = f"{left / rate:.0f} s" if rate > 0 and left else "-"
        print(
            f"{self.what}: {self.done:,}/{self.total:,} {self.unit} ({pct:.0f}%), {rate:,.0f} {self.unit}/s, "
            f"{took:.1f} s, eta {eta}",
            file=self.stream,
            flush=True,
        )


class BarProgress:
    """A rich progress bar (rich comes with typer): done/total, rate, elapsed and ETA."""

    def __init__(self, what: str, unit: str = "events") -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            Task,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Task) -> Text:
                speed = task.finished_speed or task.speed
                return Text("-" if speed is None else f"{speed:,.0f} {unit}/s")

        self._progress = Progress(
            TextColumn(what),
            BarColumn(),
            MofNCompleteColumn(),
            Rate(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._task: Any = None

    def start(self, total: int) -> None:
        if self._task is None:
            self._progress.start()
        else:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task("", total=total)

    def advance(self, n: int) -> None:
        self._progress.advance(self._task, n)

    def finish(self) -> None:
        done = self._progress.tasks[-1].completed if self._progress.tasks else 0
        self._progress.update(self._task, total=done)  # the total was an estimate from offsets
        self._progress.stop()
        self._task = None


def progress_for(what: str, stream: IO[str] | None = None) -> LineProgress | BarProgress:
    """A bar on a terminal, lines elsewhere."""
    out = stream or sys.stderr
    return BarProgress(what) if out.isatty() else LineProgress(what, stream=out)
