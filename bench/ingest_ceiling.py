"""The ingest ceiling: the same FastAPI app, same validation and event building, answering without Kafka.

``python -m bench.ingest_ceiling --port P --data-dir D [--node-id N]`` serves it on 127.0.0.1 with
SO_REUSEPORT, so several processes share one port exactly like the real ingest workers. Only the event
log differs: appends are acknowledged at once and dropped. It exists to measure against, never to run.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from chronohook.clock import Clock, SystemClock
from chronohook.settings import Settings
from schemas.events import Envelope
from services.ingest.app import build_context, create_app, listening_socket


class AcknowledgeAtOnce:
    """An event log that acknowledges every append without storing it: the cost of Kafka taken out."""

    def __init__(self) -> None:
        self._offset = 0

    async def append(self, events: list[Envelope]) -> list[tuple[int, int]]:
        start = self._offset
        self._offset += len(events)
        return [(0, start + i) for i in range(len(events))]

    async def append_atomically(self, events: list[Envelope]) -> list[tuple[int, int]]:
        return await self.append(events)

    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None


def ceiling_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    """The real ingest app over ``AcknowledgeAtOnce``: what the ceiling serves (and the unit tests call)."""
    return create_app(build_context(settings, clock or SystemClock(), log=AcknowledgeAtOnce()))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--node-id", type=int, default=0)
    args = parser.parse_args(argv)
    settings = Settings(data_dir=args.data_dir, api_port=args.port, node_id=args.node_id, log_level="WARNING")
    app = ceiling_app(settings)
    config = uvicorn.Config(app, log_level="warning", access_log=False, loop="uvloop", http="httptools", backlog=4096)
    uvicorn.Server(config).run(sockets=[listening_socket("127.0.0.1", args.port)])


if __name__ == "__main__":
    main()
