"""In-memory stand-ins shared by the executor's unit tests (the real ones need a broker)."""

from __future__ import annotations

from chronohook.errors import PublishFailed
from schemas.events import Envelope


class ListProducer:
    """``AsyncEventProducer``'s ``publish``: keeps what it is given, in order; ``fail``: the broker is unreachable."""

    def __init__(self, fail: bool = False) -> None:
        self.events: list[Envelope] = []
        self.fail = fail

    async def publish(self, topic: str, events: list[Envelope]) -> list[tuple[int, int]]:
        del topic
        if self.fail:
            raise PublishFailed("broker unreachable")
        self.events.extend(events)
        return [(0, 0)] * len(events)
