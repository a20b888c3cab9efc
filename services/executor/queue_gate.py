"""A queue's ``max_parallelism`` across every executor: a job is sent only while it holds one of its queue's slots.

The slots live in a ``SlotStore`` every executor reaches (chronohook/store/queue_slots.py, decision 0017). This is
the executor's side of it:

* **Waiting.** In one process only the oldest waiter of a queue asks the store (the others queue behind it on an
  ``asyncio.Lock``, first come first served), so a backlog of one queue costs the database one claim per poll, not
  one per job. It polls with a backoff from ``poll_min`` doubling to ``poll_max``; a slot released by this process
  wakes it at once. The wait has no deadline: a job waits as long as its queue is full.
* **Expiry.** A hold expires ``timeout + margin`` after it was taken (the request's own timeout bounds the send),
  so the slots of a killed executor come back. A hold that lasts longer (a long wait for a send slot after it) is
  extended before it expires, by a task that lives as long as the hold.
* **Cancellation.** A claim or release already handed to the store's thread is waited out, and a claim that
  succeeded under a cancelled waiter is released, so a cancelled job never leaves a slot held.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from chronohook.clock import Clock, to_ms
from chronohook.ids import queue_id as derive_queue_id
from chronohook.store.queue_slots import SlotQueue, SlotStore
from schemas.events import JobDue

log = logging.getLogger("chronohook.executor.queues")

T = TypeVar("T")


@dataclass
class _Waiting:
    """One queue's waiters in this process: one of them polls, the rest wait their turn."""

    turn: asyncio.Lock = field(default_factory=asyncio.Lock)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    users: int = 0


@dataclass(frozen=True)
class Hold:
    queue: SlotQueue
    slot: int
    holder: str


def queue_key(due: JobDue) -> SlotQueue | None:
    """The queue whose slots bound this job, or None when it has no bound (or no queue to hold it against)."""
    if due.max_parallelism is None:
        return None
    if due.queue_id is not None:
        return SlotQueue(due.tenant, due.queue_id)
    if due.queue is not None:
        return SlotQueue(due.tenant, derive_queue_id(due.tenant, due.queue))
    return None


class QueueGate:
    def __init__(
        self,
        store: SlotStore,
        clock: Clock,
        *,
        margin_seconds: float = 15.0,
        poll_min_seconds: float = 0.01,
        poll_max_seconds: float = 0.5,
    ) -> None:
        if margin_seconds <= 0 or not 0 < poll_min_seconds <= poll_max_seconds:
            raise ValueError("the margin and poll intervals must be positive, poll_min <= poll_max")
        self._store = store
        self._clock = clock
        self._margin = margin_seconds
        self._poll_min = poll_min_seconds
        self._poll_max = poll_max_seconds
        self._waiting: dict[SlotQueue, _Waiting] = {}

    def for_job(self, due: JobDue) -> AbstractAsyncContextManager[object]:
        """``async with gate.for_job(due):`` holds one of its queue's slots, or nothing when it has no bound."""
        key = queue_key(due)
        if key is None or due.max_parallelism is None:
            return nullcontext()
        return self.hold(key, due.max_parallelism, due.request.timeout_seconds)

    @asynccontextmanager
    async def hold(self, queue: SlotQueue, limit: int, timeout_seconds: float) -> AsyncIterator[Hold]:
        ttl = timeout_seconds + self._margin
        held = await self.acquire(queue, limit, ttl)
        keeper = asyncio.create_task(self._keep(held, ttl), name=f"queue-slot-{queue.queue_id}-{held.slot}")
        try:
            yield held
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            await self.release(held)

    async def acquire(self, queue: SlotQueue, limit: int, ttl_seconds: float) -> Hold:
        """Wait for one of the queue's ``limit`` slots; pair with ``release``."""
        holder = secrets.token_hex(16)
        waiting = self._waiting.setdefault(queue, _Waiting())
        waiting.users += 1
        try:
            async with waiting.turn:
                delay = self._poll_min
                warned = False
                while True:
                    waiting.released.clear()
                    try:
                        slot = await self._claim(queue, limit, holder, ttl_seconds)
                    except SQLAlchemyError:
                        # The bound cannot be proven without the database: wait for it (only this queue's jobs do).
                        # Claims are idempotent per holder, so one that landed unseen is found by the next.
                        if not warned:
                            log.warning("could not claim a slot of queue %d; retrying", queue.queue_id, exc_info=True)
                            warned = True
                        slot = None
                    if slot is not None:
                        return Hold(queue, slot, holder)
                    try:
                        await asyncio.wait_for(waiting.released.wait(), delay)
                        delay = self._poll_min
                    except TimeoutError:
                        delay = min(delay * 2, self._poll_max)
        finally:
            waiting.users -= 1
            if waiting.users == 0:
                del self._waiting[queue]

    async def release(self, held: Hold) -> None:
        """Give the slot back (idempotent) and wake this process's next waiter of the queue."""
        release = asyncio.ensure_future(asyncio.to_thread(self._store.release, held.queue, held.slot, held.holder))
        try:
            await asyncio.shield(release)
        except asyncio.CancelledError:
            await _settle(release)  # a cancelled job still gives its slot back
            raise
        except SQLAlchemyError:
            # The job is done either way; the slot comes back at its expiry (timeout + margin) instead.
            log.warning("could not release slot %d of queue %d", held.slot, held.queue.queue_id, exc_info=True)
        finally:
            waiting = self._waiting.get(held.queue)
            if waiting is not None:
                waiting.released.set()

    async def _claim(self, queue: SlotQueue, limit: int, holder: str, ttl_seconds: float) -> int | None:
        now_ms = to_ms(self._clock.now())
        expires_ms = now_ms + int(ttl_seconds * 1000)
        claim = asyncio.ensure_future(asyncio.to_thread(self._store.claim, queue, limit, holder, now_ms, expires_ms))
        try:
            return await asyncio.shield(claim)
        except asyncio.CancelledError:
            # The claim runs on in its thread: wait for it, and give back what it took for a waiter now gone.
            slot = await _settle(claim)
            if slot is not None:
                await _settle(asyncio.ensure_future(asyncio.to_thread(self._store.release, queue, slot, holder)))
            raise

    async def _keep(self, held: Hold, ttl_seconds: float) -> None:
        # Renew half a margin before the hold would expire; in the usual case the job is done long before.
        every = max(ttl_seconds - self._margin / 2, self._margin / 2)
        while True:
            await asyncio.sleep(every)
            expires_ms = to_ms(self._clock.now()) + int(ttl_seconds * 1000)
            try:
                kept = await asyncio.to_thread(self._store.extend, held.queue, held.slot, held.holder, expires_ms)
            except SQLAlchemyError:  # the database may be away a while; the hold lasts until its expiry meanwhile
                log.warning(
                    "could not extend the hold on slot %d of queue %d", held.slot, held.queue.queue_id, exc_info=True
                )
                continue
            if not kept:
                log.error(
                    "slot %d of queue %d expired and was taken while its job was still running: the queue may have "
                    "one job more in flight than its max_parallelism until this one ends",
                    held.slot,
                    held.queue.queue_id,
                )
                return


async def _settle(future: asyncio.Future[T]) -> T | None:
    """Wait for ``future`` to end, through any further cancellation: its result, or None when it failed."""
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            continue
        except Exception:
            break
    if future.cancelled() or future.exception() is not None:
        if not future.cancelled():
            log.warning("a queue slot operation failed while its job was cancelled", exc_info=future.exception())
        return None
    return future.result()
