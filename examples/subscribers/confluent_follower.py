"""Follow chronohook's job events with confluent-kafka: a small, production-shaped subscriber.

It is another service's view of the log: its own consumer group, ``read_committed`` (the timer writes in
transactions), each record decoded with chronohook's codec (``schemas.decode_event``, which upcasts older
``schema_version`` documents to the current shape), offsets committed only after the records were handled (at
least once), duplicates dropped by ``event_id``, a record it cannot decode logged and skipped, and a clean stop on
SIGTERM or SIGINT. It prints one line per event::

    JobPushed rj_244862754729984 2026-11-23T21:49:02.104000+00:00 tenant=acme

Run it (settings from flags, or the environment variables in brackets)::

    python -m examples.subscribers.confluent_follower --bootstrap 127.0.0.1:9092 --topic chronohook.job-events \\
        --group my-follower --from earliest

See docs/subscribers.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from chronohook.kafka.properties import parse_properties
from schemas import CodecError, Event, decode_event
from schemas.topics import TYPE_HEADER

log = logging.getLogger("examples.confluent_follower")

BATCH = 500  # records taken per poll
POLL_SECONDS = 0.5  # how long one poll waits when nothing arrives; also bounds how late a SIGTERM is seen
SEEN_IDS = 100_000  # event ids remembered for deduplication (at-least-once delivery repeats some)


class Deduper:
    """The last ``size`` event ids, oldest forgotten first: a repeat of a recent event is dropped."""

    def __init__(self, size: int = SEEN_IDS) -> None:
        self._size = size
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        if event_id in self._seen:
            self._seen.move_to_end(event_id)
            return False
        self._seen[event_id] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True


def line_of(event: Event) -> str:
    """One printed line: type, job id, time, tenant."""
    return f"{event.type} {event.job_id} {event.occurred_at.isoformat()} tenant={event.tenant}"


def header(msg: Message, name: str) -> str | None:
    headers = msg.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    for key, value in pairs:
        if key == name and value is not None:
            return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return None


class Follower:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        start: str,
        types: frozenset[str] = frozenset(),
        out: TextIO = sys.stdout,
        connection: dict[str, str] | None = None,
    ) -> None:
        self.topic = topic
        self.types = types
        self.out = out
        self.dedupe = Deduper()
        self.stopping = False
        config: dict[str, Any] = {
            # TLS, SASL and the like from a client properties file (--properties), under the follower's own keys.
            **(connection or {}),
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": f"{group}-confluent-follower",
            # Where a group with no committed offset starts; a group that committed resumes where it stopped.
            "auto.offset.reset": start,
            # The timer writes JobDue and retries in transactions: never show what it aborted.
            "isolation.level": "read_committed",
            # Offsets are committed by hand, after the records were handled: at least once.
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
            "error_cb": self._on_error,
        }
        self.consumer = Consumer(config)

    def _on_error(self, err: KafkaError) -> None:
        # librdkafka reconnects by itself; only a fatal error ends the follower.
        if err.fatal():
            log.error("fatal Kafka error: %s", err)
            self.stopping = True
        else:
            log.warning("Kafka: %s", err)

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current batch", signum)
        self.stopping = True

    def run(self) -> None:
        self.consumer.subscribe([self.topic], on_assign=self._on_assign)
        try:
            while not self.stopping:
                batch = self.consumer.consume(BATCH, POLL_SECONDS)
                if not batch:
                    continue
                for msg in batch:
                    self.handle(msg)
                self.commit(batch)
        finally:
            # close() leaves the group at once, so the partitions move to another member without a session timeout.
            self.consumer.close()
            log.info("stopped")

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing")

    def handle(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("consume error: %s", err)
            return
        event_type = header(msg, TYPE_HEADER)
        if self.types and event_type not in self.types:
            return  # filtered by the header, without decoding
        value = msg.value()
        try:
            if value is None:
                raise CodecError("no value")
            event = decode_event(value)
        except CodecError as exc:
            # Never a reason to stop: log where it sits, and move on (its offset is committed with the batch).
            log.warning(
                "skipped a record I cannot decode at %s[%s]@%s (type header %r): %s",
                msg.topic(),
                msg.partition(),
                msg.offset(),
                event_type,
                str(exc)[:300],
            )
            return
        if not self.dedupe.first_time(event.event_id):
            return
        print(line_of(event), file=self.out, flush=True)

    def commit(self, batch: Sequence[Message]) -> None:
        # The next offset to read per partition: the highest handled + 1.
        nxt: dict[tuple[str, int], int] = {}
        for msg in batch:
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            if msg.error() is None and topic is not None and partition is not None and offset is not None:
                nxt[(topic, partition)] = max(nxt.get((topic, partition), 0), offset + 1)
        if not nxt:
            return
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in nxt.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # A rebalance took the partitions away: their new owner re-reads from the last commit (at least once).
            log.warning("commit failed: %s", exc)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description="Print chronohook's job events, one line each.")
    parser.add_argument(
        "--bootstrap",
        default=env("FOLLOWER_BOOTSTRAP", "127.0.0.1:9092"),
        help="Kafka bootstrap servers [FOLLOWER_BOOTSTRAP]",
    )
    parser.add_argument(
        "--topic",
        default=env("FOLLOWER_TOPIC", "chronohook.job-events"),
        help="the job log: <prefix>.job-events [FOLLOWER_TOPIC]",
    )
    parser.add_argument(
        "--group", default=env("FOLLOWER_GROUP", "chronohook-follower"), help="own consumer group [FOLLOWER_GROUP]"
    )
    parser.add_argument(
        "--from",
        dest="start",
        choices=("earliest", "latest"),
        default=env("FOLLOWER_FROM", "latest"),
        help="where a new group starts: the whole history or only new events [FOLLOWER_FROM]",
    )
    parser.add_argument(
        "--properties",
        default=env("FOLLOWER_PROPERTIES", ""),
        help="a client properties file (key=value, librdkafka names: security.protocol, sasl.username, "
        "ssl.ca.location...) for a secured cluster [FOLLOWER_PROPERTIES]",
    )
    parser.add_argument(
        "--types",
        default=env("FOLLOWER_TYPES", ""),
        help="comma-separated event types to print (by the type header); empty: all [FOLLOWER_TYPES]",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    types = frozenset(t.strip() for t in args.types.split(",") if t.strip())
    connection = parse_properties(Path(args.properties).read_text(encoding="utf-8")) if args.properties else None
    follower = Follower(args.bootstrap, args.topic, args.group, args.start, types, connection=connection)
    signal.signal(signal.SIGTERM, follower.stop)
    signal.signal(signal.SIGINT, follower.stop)
    follower.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
