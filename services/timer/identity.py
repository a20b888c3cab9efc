"""Which timer this process is: a number leased in the database, its transactional id and group instance id.

Two timer processes under one transactional id fence each other over and over (each ``init_transactions`` aborts
the other's work), and so do two consumers with one ``group.instance.id``. So each timer leases a number of its own
in the timer's lease space (``service_leases``, decision 0013) and derives both ids from it:

* ``CHRONOHOOK_NODE_ID`` set: that number, refused (``NodeIdTaken``) while another live timer holds it; unset, the
  number this process's claim key held before, else the lowest free one.
* The claim key is the process's stable name: its group instance id (the supervisor's per-child name) when set,
  else ``host:pid`` (a container restarted in place keeps both). A restart under the same claim key takes its number
  back at once, though the killed incarnation's lease has up to 30 s left: its ``init_transactions`` then fences that
  incarnation and aborts the transaction it left open, instead of leaving it to hold the partitions' last stable
  offset until ``transaction.timeout.ms`` (60 s).
* The group instance id is the supervisor's when set, else ``<prefix>.timer-<number>``.

Kafka's fencing is what keeps a transaction from committing under an id another holds; the lease only keeps two
live timers from picking the same id. So a lease lost while running (another process took the row) stops this one,
to be restarted under a fresh lease, and a lease that lapses for want of the database does not: nothing is committed
under it that Kafka would not fence.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from chronohook.clock import Clock, to_ms
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.leases import LeaseKeeper, LeaseTerms, NodeLease

log = logging.getLogger("chronohook.timer")

LEASE_SPACE = "timer"


def transactional_id(settings: Settings, node_id: int) -> str:
    # The format from before the lease: a timer upgraded in place under number 0 fences its predecessor.
    return f"{settings.topic_prefix}.timer.{node_id}"


def claim_key(settings: Settings) -> str:
    return settings.group_instance_id or f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class TimerIdentity:
    node_id: int
    transactional_id: str
    # The process's settings with its own group instance id: for the timer's consumer.
    settings: Settings
    lease: NodeLease
    keeper: LeaseKeeper
    clock: Clock
    engine: Engine | None = None  # disposed on close when the identity made it

    def close(self) -> None:
        """Give the number back (free at once for any timer), stop renewing."""
        self.keeper.stop()
        try:
            self.lease.close(to_ms(self.clock.now()))
        finally:
            if self.engine is not None:
                self.engine.dispose()


def lease_identity(
    settings: Settings,
    clock: Clock,
    on_lost: Callable[[], None],
    *,
    engine: Engine | None = None,
    terms: LeaseTerms | None = None,
    key: str | None = None,
) -> TimerIdentity:
    """Lease this timer's number and start renewing it; ``on_lost`` runs (in the renewing thread) if another process
    takes it. ``engine``: the read-model database's (made from the settings, and disposed on close, when None).
    ``key``: the claim key, when not the process's own (``claim_key``)."""
    own = engine is None
    db = make_engine(settings.resolved_database_url) if engine is None else engine
    try:
        create_schema(db)
        terms = terms or LeaseTerms()
        lease = NodeLease(db, clock, terms, service=LEASE_SPACE, claim_key=key or claim_key(settings))
        preferred = settings.node_id if "node_id" in settings.model_fields_set else None
        node_id = lease.acquire(preferred)
    except BaseException:
        if own:
            db.dispose()
        raise

    def lost() -> None:
        log.critical("timer number %d was taken by another process: stopping, to be restarted", node_id)
        on_lost()

    keeper = LeaseKeeper(lease, terms, lost)
    keeper.start()
    instance = settings.group_instance_id or f"{settings.topic_prefix}.timer-{node_id}"
    tid = transactional_id(settings, node_id)
    log.info("timer number %d: transactional id %s, group instance id %s", node_id, tid, instance)
    return TimerIdentity(
        node_id=node_id,
        transactional_id=tid,
        settings=settings.model_copy(update={"group_instance_id": instance}),
        lease=lease,
        keeper=keeper,
        clock=clock,
        engine=db if own else None,
    )
