"""Take what a consumer has, without waiting for a full batch.

``Consumer.consume(n, timeout)`` returns only when ``n`` messages arrived or ``timeout`` passed: with fewer
than ``n`` waiting, it sits out the whole timeout (measured here: a record produced 0.2 s into a 1 s
``consume`` was handed over 0.8 s late; ``poll`` handed it over in 2-4 ms). Due jobs cannot wait for that.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import Message


def take(consumer: Any, max_messages: int, timeout: float, linger: float = 0.0) -> list[Message]:
    """Wait up to ``timeout`` for the first message, then add what else arrives within ``linger`` (up to the max).

    ``linger=0`` (due jobs) takes only what is already fetched; a consumer off the delivery path lingers to
    gather bigger batches, since each batch costs it a transaction.
    """
    first = consumer.poll(timeout)
    if first is None:
        return []
    if max_messages <= 1:
        return [first]
    return [first, *consumer.consume(max_messages - 1, linger)]
