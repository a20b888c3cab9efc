"""The timer's shell: consume job events and results, keep entries in buckets, fire, all in Kafka transactions.

Each transaction holds the consumed offsets, the changelog writes of the entries they changed, and the events
decided (``JobDue``, retries). So a crash, kill -9 included, either keeps all of a step or none of it: on restart
the entries come back from the changelog and the inputs after the committed offsets are consumed again.

Memory does not grow with the horizon (decision 0026): every entry lives in its partition's store on local disk
(services/timer/store.py), a cache of the changelog written only after the transaction holding a change has
committed, with the changelog offset it is complete through. RAM holds the uncommitted changes of the current step
and the near window: the entries waking by ``loaded_until_ms`` (now + ``timer_near_window_s``), armed in time
buckets, refilled from the store's wake index as time moves. A restart reads only the changelog past each
partition's checkpoint (services/timer/store_restore.py).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from chronohook.clock import Clock, to_ms
from chronohook.collector import fewer_collections
from chronohook.heartbeats import Pulse, PulsingEvent
from chronohook.kafka.batches import take
from chronohook.kafka.config import consumer_config, transactional_producer_config
from chronohook.kafka.groups import joined_group
from chronohook.kafka.records import Record, read_record
from chronohook.kafka.topics import Topics, ensure_topics
from chronohook.metrics import observed
from chronohook.settings import Settings
from schemas import changelog_codec, decode_event
from schemas.changelog import Entry, TimerEntry
from schemas.events import Envelope
from services.timer import metrics as timer_metrics
from services.timer.buckets import TimeBuckets
from services.timer.budget import TenantBudgets, share_of
from services.timer.domain import decide
from services.timer.errors import TimerError
from services.timer.firing import FireCap, UnreadableEntry, fire_due, tenant_in
from services.timer.identity import TimerIdentity, lease_identity
from services.timer.lead import hand_out, next_lead
from services.timer.memory import bound_allocator, release_free_memory
from services.timer.queue_feed import QueueSettingsFeed
from services.timer.queues import QueueBook, in_queue, wake_at
from services.timer.store import Change, Checkpoint, EntryStore, Row, SqliteEntryStore, Waking
from services.timer.store_restore import RestoreReport, changelog_delete_retention_ms, restore_partitions
from services.timer.tracing import stamped
from services.timer.transaction import commit_step
from services.timer.window import Paging

log = logging.getLogger("chronohook.timer")

GROUP = "timer"  # the role: the group id is <prefix>.timer (chronohook/kafka/groups.py)
MAX_IDLE_WAIT = 0.1
INPUT_COMMIT_INTERVAL = 0.05
# librdkafka's queue of fetched, not yet consumed records (its default, 64 MiB, was most of a loaded timer's RSS,
# measured; a step takes 1,000 records, a few hundred KiB). A fetch still takes at least one whole record.
PREFETCH_KIB = 8_192
# Decoded near entries kept (a few KiB each): a minute of 300 jobs/s falling due.
NEAR_CACHE_MAX = 20_000
# A quiet partition's checkpoint is re-dated this often, so a restart reads its delta instead of rebuilding (a
# checkpoint older than half the changelog's delete.retention.ms, 24 h by default, is not trusted).
TOUCH_CHECKPOINTS_INTERVAL_S = 3_600.0
# Free memory goes back to the OS this often (services/timer/memory.py).
RELEASE_MEMORY_INTERVAL_S = 10.0
# A step's transaction that has not committed by then is stuck, not slow (see Watchdog).
COMMIT_DEADLINE_S = 15.0
# The timer's own decisions: nothing in them changes its entries. (JobDeadLettered is read: keyed by the chain's
# original, it arms the dead letter's retention entry in that job's partition, services/timer/retention.py. So is
# QueueOutcome: keyed by a queue, it is counted for the queue's alerts in that key's partition, timer/alerts.py.)
IGNORED_TYPES = frozenset(
    {"JobDue", "JobRetryScheduled", "CallbackDue", "CallbackRetryScheduled", "CallbackAbandoned"}
    | {"JobRetryChainResolved", "JobScheduled", "OccurrencesMissed"}
    # Alerts: the timer's own decisions, and the destination (the executor's to look up at send time).
    | {"AlertRaised", "AlertDue", "AlertRetryScheduled", "AlertAbandoned", "AlertDestinationSet"}
    | {"AlertDestinationCleared", "JobFireFailed"}
)
# A page of a store's wake index, and the entries armed at most (the rest wait in the stores, paged in;
# services/timer/window.py): in fire caps, and at least these many (a few hundred bytes of RAM each). 200,000 armed
# holds a burst of 100,000 at one instant whole, so another tenant's jobs due after it are armed (and fired in turn)
# while it drains: with 40,000, a neighbour's jobs waited behind the burst's pages (fired 18.8 s late, measured).
PAGE_IN_CAPS, MAX_ARMED_IN_CAPS, MIN_PAGE, MIN_ARMED = 2, 8, 10_000, 200_000


class Watchdog:
    """Ends the process when a guarded section overruns: librdkafka's ``send_offsets_to_transaction`` can ignore its
    timeout and block for good after a broker restart (confluentinc/librdkafka#5456, #5511). Exiting is safe: the
    supervisor restarts the timer, whose ``init_transactions`` fences this incarnation and aborts its transaction."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._since: float | None = None
        threading.Thread(target=self._watch, name="timer-watchdog", daemon=True).start()

    def __enter__(self) -> None:
        self._since = time.monotonic()

    def __exit__(self, *_: object) -> None:
        self._since = None

    def _watch(self) -> None:
        while True:
            time.sleep(1.0)
            since = self._since
            if since is not None and time.monotonic() - since > self.seconds:
                log.critical("a transaction did not commit within %.0f s; exiting to be restarted", self.seconds)
                logging.shutdown()
                os._exit(75)


class TimerService:
    def __init__(
        self, settings: Settings, clock: Clock, stop: threading.Event | None = None, store: EntryStore | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.stop = stop or threading.Event()
        self.topics = Topics.from_settings(settings)
        # How far ahead of its instant a job is handed out: the configured lead, longer while steps are (lead.py).
        self.configured_lead = self.lead = timedelta(milliseconds=settings.timer_lead_ms)
        # Its files are those of its leased number, known once run() has leased it (see run()).
        self._own_store = store is None
        self.store: EntryStore = (
            store if store is not None else SqliteEntryStore(settings.timer_store_dir(settings.node_id))
        )
        # The near window: entries waking by ``loaded_until_ms`` (and not held by a paused queue) are armed here.
        self.buckets = TimeBuckets(width_ms=1000)
        self.window_ms = int(settings.timer_near_window_s * 1000)
        self.refill_ms = int(settings.timer_refill_interval_s * 1000)
        self.loaded_until_ms = to_ms(clock.now()) + self.window_ms
        self.owned: set[int] = set()
        self.producer: Any = None
        self.consumer: Any = None
        self.identity: TimerIdentity | None = None
        self.watchdog = Watchdog(COMMIT_DEADLINE_S)
        # Every Recuro queue's settings in force, from the whole queue-settings topic (decision 0015).
        self.queues = QueueBook()
        self.queue_feed: QueueSettingsFeed | None = None
        # Changed but not yet committed, by key: the partition and the new entry (None: gone). Reads see these first;
        # the store gets them once their transaction has committed.
        self.pending: dict[str, tuple[int, Entry | None]] = {}
        # Records set aside (input or changelog) and why: produced inside the next step's transaction.
        self._dead: list[tuple[Record, BaseException]] = []
        self._uncommitted = False
        self._last_commit = time.monotonic()
        # What each assignment's restore read (tests and the log say whether it was a delta or a rebuild).
        self.restores: list[RestoreReport] = []
        self._retention_ms: int | None = None
        # Decoded entries of the near window as committed, so firing a job created moments ago needs no point read
        # and decode (~45 us, decision 0026); bounded, oldest out first.
        self.near_cache: dict[str, Entry] = {}
        # One step fires at most this much; the tenants' delivery budget, this timer's share (decision 0028).
        self.cap = FireCap(settings.timer_fire_max_entries, settings.timer_fire_max_bytes)
        self.budgets = TenantBudgets(0.0)
        cap = self.cap.entries
        self.paging = Paging(max(PAGE_IN_CAPS * cap, MIN_PAGE), max(MAX_ARMED_IN_CAPS * cap, MIN_ARMED))
        self._next_touch = time.monotonic() + TOUCH_CHECKPOINTS_INTERVAL_S
        self._next_release = time.monotonic() + RELEASE_MEMORY_INTERVAL_S

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def run(self) -> None:
        ensure_topics(self.settings)
        # Its own transactional and group instance ids, leased (services/timer/identity.py); lost, the timer stops.
        self.identity = lease_identity(self.settings, self.clock, on_lost=self.stop.set)
        if self._own_store and self.identity.node_id != self.settings.node_id:
            self.store = SqliteEntryStore(self.settings.timer_store_dir(self.identity.node_id))
        self.producer = Producer(transactional_producer_config(self.settings, self.identity.transactional_id))
        # Fences any earlier incarnation with this id and aborts its open transaction.
        self.producer.init_transactions(30)
        # Before any entry is restored or fired: a paused queue's jobs are held from the first step.
        self.queue_feed = QueueSettingsFeed(self.settings, self.topics.queue_settings)
        self._take_queue_settings(self.queue_feed.catch_up())
        self.consumer = Consumer(
            consumer_config(
                self.identity.settings,
                joined_group(self.settings, GROUP),
                **{"partition.assignment.strategy": "range", "queued.max.messages.kbytes": PREFETCH_KIB},
            )
        )
        self.consumer.subscribe([self.topics.events], on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("timer started")
        try:
            while not self.stop.is_set():
                self.step()
        finally:
            self.consumer.close()
            self.queue_feed.close()
            self.producer.flush(10)
            for partition in list(self.owned):
                self.store.close(partition)
            self.identity.close()

    def _on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        numbers = {tp.partition for tp in partitions}
        self._restore(numbers - self.owned)
        self.owned |= numbers
        self.budgets.rate = share_of(self.settings.tenant_delivery_rate, len(self.owned), self.settings.partitions)
        log.info("timer owns partitions %s with %d entries in its near window", sorted(self.owned), len(self.buckets))

    def _on_revoke(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        numbers = {tp.partition for tp in partitions}
        self.buckets.drop_partitions(numbers)
        self.paging.forget(numbers)
        self.near_cache.clear()  # it does not know partitions; a revocation is rare
        # Their uncommitted changes go too: the input's offsets were never committed, so the new owner reads it again.
        self.pending = {key: change for key, change in self.pending.items() if change[0] not in numbers}
        self._dead = [(record, why) for record, why in self._dead if record.partition not in numbers]
        # The files stay: taken back later, a partition reads only the changelog past its checkpoint (decision 0026).
        for partition in numbers & self.owned:
            self.store.close(partition)
        self.owned -= numbers
        self.budgets.rate = share_of(self.settings.tenant_delivery_rate, len(self.owned), self.settings.partitions)

    def _restore(self, partitions: set[int]) -> None:
        """Bring the stores of newly owned partitions up to the changelog's end, then arm their near entries."""
        if not partitions:
            return
        if self._retention_ms is None:
            self._retention_ms = changelog_delete_retention_ms(self.settings, self.topics.timer_state)
        reports = restore_partitions(
            self.settings,
            self.store,
            self.topics.timer_state,
            partitions,
            retention_ms=self._retention_ms,
            now_ms=to_ms(self.clock.now()),
            read=self._read_changelog_record,
        )
        self.restores.extend(reports)
        for report in reports:
            log.info(
                "restored partition %d by %s: %d changelog records read from offset %d to %d in %.2f s",
                report.partition, report.mode, report.records, report.start, report.end, report.seconds,
            )  # fmt: skip
        for partition in partitions:  # overdue entries too, a page at a time (services/timer/window.py)
            self.paging.forget({partition})
            self._arm_waking(partition, self.paging.read(self.store, partition, None, self.loaded_until_ms))

    def _read_changelog_record(self, record: Record) -> Change | None:
        """One changelog record as a change to its partition's store; one that does not read as an entry is set
        aside and its key skipped (None), since a changelog the timer cannot restore past would stop its partitions
        for good."""
        try:
            if record.key is None:
                raise TimerError("a changelog record without a job id")
            key = record.key.decode()
            if record.value is None:
                return key, None
            version = changelog_codec.version_of(record.headers)
            entry = changelog_codec.decode(record.value, version)
        except (TimerError, ValueError) as exc:  # ValueError: the codec's errors, UnicodeDecodeError
            self._dead.append((record, exc))
            return None
        return key, Row.of(entry, record.value if version == changelog_codec.CURRENT_VERSION else None)

    # -- one step ----------------------------------------------------------------------------------------------
    def step(self) -> None:
        wait = MAX_IDLE_WAIT
        next_ms = self.buckets.next_due_ms()
        if next_ms is not None:
            lead_ms = hand_out(self.lead).total_seconds() * 1000
            wait = min(wait, max(0.0, (next_ms - lead_ms - to_ms(self.clock.now())) / 1000))
        if self._uncommitted:
            wait = min(wait, max(0.0, self._last_commit + INPUT_COMMIT_INTERVAL - time.monotonic()))
        messages = take(self.consumer, 1000, wait)
        if self.queue_feed is not None:
            self._take_queue_settings(self.queue_feed.take())
        out: list[Envelope] = []
        now = self.clock.now()
        now_ms = to_ms(now)
        if now_ms + self.window_ms - self.loaded_until_ms >= self.refill_ms:
            self._refill(now_ms + self.window_ms)
            if time.monotonic() >= self._next_release:
                release_free_memory()
                self._next_release = time.monotonic() + RELEASE_MEMORY_INTERVAL_S
            if time.monotonic() >= self._next_touch:
                self._touch_checkpoints(now_ms)
                self._next_touch = time.monotonic() + TOUCH_CHECKPOINTS_INTERVAL_S
        for msg in messages:
            self._consume_one(msg, now, out)
        self._uncommitted = self._uncommitted or bool(messages)
        # Pages read while there is room under max_armed, not only once few are left: a partition stays behind
        # (arming nothing past its cursor, another tenant's later jobs included) until its pages pass its burst.
        if (
            self.paging.behind
            and len(self.buckets) + len(self.paging.behind) * self.paging.page <= self.paging.max_armed
        ):
            self._page_in()
        # At most the cap, fair across tenants: the rest stay armed, due, for the next step (firing.py, buckets.py).
        ahead, settings_for = hand_out(self.lead), self.queues.settings_for
        out.extend(fire_due(self.buckets, self._get, self._put, now, ahead, self.cap, settings_for, self.budgets))
        # Events out (due jobs, retries) are committed at once. Input that only arms later timers may wait up to
        # INPUT_COMMIT_INTERVAL to share a transaction: one per poll cost the broker most of its CPU under load.
        pending = self._uncommitted or bool(self.pending) or bool(self._dead)
        if out or (pending and time.monotonic() - self._last_commit >= INPUT_COMMIT_INTERVAL):
            self._commit(self._uncommitted, out)
            self._uncommitted, self._dead = False, []
            self._last_commit = time.monotonic()
        self.lead = next_lead(self.configured_lead, self.lead, self.clock.now() - now)

    def _consume_one(self, msg: Message, now: datetime, out: list[Envelope]) -> None:
        record = read_record(msg)  # a consumer error (not the record's) still stops the timer: it is restarted
        if record is None or record.type in IGNORED_TYPES:
            return
        try:
            event = decode_event(record.value or b"")
            # The job's entry, and its callbacks' entries (keyed by callback id, in the job's partition).
            # The queues' settings in force: a failed run's retries, and a dead letter's retention, follow them.
            decided = decide(lambda key: self._get(key, record.partition), event, now, self.queues.settings_for)
            changes, emitted = stamped(record, decided)  # the record's trace context kept (decision 0043)
        except Exception as exc:
            # Whatever a record makes the pure fold raise is that record's fault, and nothing changed: it goes aside
            # in this step's transaction, with the offsets.
            self._dead.append((record, exc))
            return
        for key, new in changes.items():
            self._put(key, record.partition, new)
        out.extend(emitted)

    def _get(self, key: str, partition: int) -> Entry | None:
        """The entry as this step sees it: an uncommitted change first, else the partition's store (a point read)."""
        change = self.pending.get(key)
        if change is not None:
            return change[1]
        cached = self.near_cache.get(key)
        if cached is not None:
            return cached
        row = self.store.get(partition, key)
        if row is None:
            return None
        try:
            return row.entry()
        except ValueError as exc:  # the codec's: fire_due disarms and records it
            raise UnreadableEntry(f"{type(exc).__name__}: {exc}", tenant_in(row.value)) from exc

    def _put(self, key: str, partition: int, entry: Entry | None) -> None:
        self.pending[key] = (partition, entry)
        wake = None if entry is None else wake_at(entry, self.queues.settings_for)  # None while its queue is paused
        wake_ms = None if wake is None else to_ms(wake)
        # Armed only inside the near window (and the pages read so far); a later one is loaded by the refill.
        armed = wake_ms is not None and wake_ms <= self.loaded_until_ms and self.paging.covers(partition, key, wake_ms)
        if armed and wake_ms is not None and len(self.buckets) >= self.paging.max_armed:
            self.paging.defer(partition, wake_ms)
            armed = False
        self.buckets.arm(key, wake_ms if armed else None, partition, "" if entry is None else entry.tenant)

    def _refill(self, until_ms: int) -> None:
        """Slide the near window to ``until_ms``: arm what wakes in (loaded_until_ms, until_ms], from the stores'
        wake index and from the uncommitted changes (which the stores do not have yet)."""
        after = self.loaded_until_ms
        for partition in self.owned - self.paging.behind.keys():  # a behind one is paged in by step()
            self._arm_waking(partition, self.paging.read(self.store, partition, after, until_ms))
        self.loaded_until_ms = until_ms
        self._arm_pending(after)

    def _page_in(self) -> None:
        """The next page of each partition behind (services/timer/window.py), and the changes it now covers."""
        for partition in list(self.paging.behind):
            self._arm_waking(partition, self.paging.read(self.store, partition, None, self.loaded_until_ms))
        self._arm_pending(None)

    def _arm_pending(self, after: int | None) -> None:
        """Arm the uncommitted changes (which the stores do not have yet) waking in (after, loaded_until_ms]."""
        for key, (partition, entry) in self.pending.items():
            wake = None if entry is None else wake_at(entry, self.queues.settings_for)
            if wake is not None and (after is None or after < to_ms(wake)) and to_ms(wake) <= self.loaded_until_ms:
                self._put(key, partition, entry)

    def _arm_waking(self, partition: int, waking: list[Waking]) -> None:
        settings_for = self.queues.settings_for
        for w in waking:
            if w.key in self.pending:
                continue  # its uncommitted change decided its arming already
            if w.queue is not None and not settings_for(*w.queue).is_active:
                continue  # held while its queue is paused
            if self.paging.covers(partition, w.key, w.wake_ms):
                self.buckets.arm(w.key, w.wake_ms, partition, w.tenant)

    def _take_queue_settings(self, records: Iterable[Record]) -> None:
        """New queue settings in force, deleted queues forgotten (their tombstones); a queue no longer paused has its
        held jobs armed again (overdue ones fire at once, in due order). Records are applied as they come (the start's
        catch-up yields them as it reads); a bad one is set aside, by every timer instance that reads it."""
        for record in records:
            try:
                released = self.queues.take(record)
            except Exception as exc:
                self._dead.append((record, exc))
                continue
            if released is not None:
                # Rare (a resume): the queue's entries from each store's queue index, those in the near window armed.
                tenant, queue = released
                for partition in self.owned:
                    self._arm_waking(partition, self.store.in_queue(partition, tenant, queue, self.loaded_until_ms))
                for key, (partition, entry) in self.pending.items():
                    if entry is not None and in_queue(entry, tenant, queue):
                        self._put(key, partition, entry)

    def _commit(self, consumed: bool, out: list[Envelope]) -> None:
        committed = self.pending
        rows = [
            (key, partition, None if entry is None else Row.of(entry))
            for key, (partition, entry) in self.pending.items()
        ]
        with self.watchdog:  # (services/timer/transaction.py: aborted on any error before it is raised)
            step = (self.producer, self.consumer, self.topics, rows, out, self._dead, consumed, self.clock.now())
            delivered = commit_step(*step, committed)  # the events carry their entries' trace context
        self.pending = {}
        self._save(rows, delivered)
        self._cache_near(committed)

    def _touch_checkpoints(self, now_ms: int) -> None:
        """Re-date the checkpoint of each owned partition whose changelog holds nothing past it but, at most, our last
        transaction's marker: the store is then complete as of now."""
        for partition in self.owned:
            checkpoint = self.store.checkpoint(partition)
            if checkpoint is None:
                continue
            try:
                _, high = self.consumer.get_watermark_offsets(
                    TopicPartition(self.topics.timer_state, partition), timeout=5
                )
            except KafkaException as exc:
                log.warning(
                    "could not read the end of changelog partition %d (%s); checked again later", partition, exc
                )
                continue
            if 0 <= high - checkpoint.offset <= 1:
                self.store.write(partition, [], Checkpoint(checkpoint.offset, now_ms))

    def _cache_near(self, committed: dict[str, tuple[int, Entry | None]]) -> None:
        cache = self.near_cache
        for key, (_, entry) in committed.items():
            cache.pop(key, None)
            # Armed (it fires soon), or awaiting a run's result (which comes back within a second or so).
            if entry is not None and (key in self.buckets or (isinstance(entry, TimerEntry) and entry.in_flight)):
                cache[key] = entry
        while len(cache) > NEAR_CACHE_MAX:
            del cache[next(iter(cache))]

    def _save(self, rows: list[tuple[str, int, Row | None]], delivered: dict[int, int]) -> None:
        """Committed changes into the partitions' stores, each with its new checkpoint: past the last changelog
        record this transaction wrote there (without a delivery report, the checkpoint stays where it was: a restore
        then reads a little more, never less)."""
        by_partition: dict[int, list[Change]] = {}
        for key, partition, row in rows:
            by_partition.setdefault(partition, []).append((key, row))
        now_ms = to_ms(self.clock.now())
        for partition, changes in by_partition.items():
            if partition not in self.owned:
                continue
            last = delivered.get(partition)
            checkpoint = None if last is None else Checkpoint(last + 1, now_ms)
            self.store.write(partition, changes, checkpoint)


def serve(settings: Settings, clock: Clock) -> None:
    bound_allocator()
    fewer_collections()  # the armed entries: a full collection walked every one of them (decision 0036)
    pulse = Pulse()
    stop = PulsingEvent(pulse)  # asked once per step: the heartbeat's pulse (chronohook/heartbeats.py)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    service = TimerService(settings, clock, stop)
    timer_metrics.register(service)
    with observed(settings, "timer", pulse):
        service.run()
