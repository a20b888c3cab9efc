"""Errors shared by every service."""


class ChronohookError(Exception):
    """Base of every error chronohook raises on purpose."""


class KafkaUnavailable(ChronohookError):
    """The broker did not answer in time."""


class PublishFailed(ChronohookError):
    """The broker refused or never acknowledged an event."""


class BrokerStartFailed(ChronohookError):
    """The embedded local broker could not be prepared or started."""


class KafkaMisconfigured(ChronohookError):
    """The Kafka settings cannot work with this cluster (a replication factor above its brokers, say)."""
