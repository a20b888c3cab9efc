"""Each tenant's write watermark (``tenant_write_positions``, decision 0035): the same on SQLite and PostgreSQL (each
upserts it its own way: chronohook/store/write_positions.py)."""

from __future__ import annotations

from sqlalchemy import Engine

from chronohook.readmodel.store import PROJECTOR_CONSUMER, ReadModelStore
from chronohook.store.write_positions import advance, unapplied


def _projector_at(engine: Engine, offsets: dict[tuple[str, int], int]) -> None:
    store = ReadModelStore(engine)
    for (topic, partition), nxt in offsets.items():
        store.skip(PROJECTOR_CONSUMER, topic, partition, nxt - 1)  # moves the projector's next offset to nxt


def test_the_watermark_only_rises_and_reads_what_the_projector_has_not_applied(engine: Engine) -> None:
    # Given tenant t's writes at events/0:10 and events/1:4, then an older one at events/0:3 (another process, late)
    advance(engine, {("t", "p.events", 0): 10, ("t", "p.events", 1): 4, ("u", "p.events", 0): 50})
    advance(engine, {("t", "p.events", 0): 3})
    # When the projector applied events/0 up to 10 (next 11) and nothing of partition 1
    _projector_at(engine, {("p.events", 0): 11})
    # Then t waits for events/1:4 alone (events/0 kept 10, not 3), and u for its 50
    assert unapplied(engine, "t", PROJECTOR_CONSUMER) == [("p.events", 1, 4)]
    assert unapplied(engine, "u", PROJECTOR_CONSUMER) == [("p.events", 0, 50)]
    # And once partition 1 is past 4, t waits for nothing; a tenant that never wrote never waits
    _projector_at(engine, {("p.events", 1): 5})
    assert unapplied(engine, "t", PROJECTOR_CONSUMER) == []
    assert unapplied(engine, "nobody", PROJECTOR_CONSUMER) == []


def test_a_higher_offset_raises_the_watermark_past_what_was_applied(engine: Engine) -> None:
    # Given t's write at events/0:10, applied
    advance(engine, {("t", "p.events", 0): 10})
    _projector_at(engine, {("p.events", 0): 11})
    assert unapplied(engine, "t", PROJECTOR_CONSUMER) == []
    # When t writes again at events/0:12, Then the read waits for it
    advance(engine, {("t", "p.events", 0): 12})
    assert unapplied(engine, "t", PROJECTOR_CONSUMER) == [("p.events", 0, 12)]
