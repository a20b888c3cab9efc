"""What the outbound room refuses: one hierarchy, so callers catch ``OutboundError`` and say why in their shape."""

from __future__ import annotations


class OutboundError(Exception):
    """A request that must not leave the process; the message is worded for the job's owner."""


class EgressRefused(OutboundError):
    """The target (its URL, or an address its name resolves to) is refused by the egress policy."""


class HeaderRefused(OutboundError):
    """A request header the sender will not send (it owns the header, or the headers are too many or too big)."""
