"""The egress guard inside aiohttp: what the connector resolves, and every socket it opens, pass the policy.

Two hooks, both public aiohttp API (docs/decisions/0009-egress-guard.md):

- ``GuardedResolver`` (an ``aiohttp.abc.AbstractResolver``) resolves a name through our ``Resolver`` and refuses
  the name if ANY of its addresses is refused; aiohttp then connects only to the addresses it returned, so there
  is no second lookup for DNS rebinding to slip into.
- ``guarded_socket`` (the connector's ``socket_factory``) sees the address of every socket before it connects,
  including IP literals, which aiohttp never hands to a resolver. It is the last word: nothing connects to an
  address it did not check.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from ipaddress import ip_address
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult

from chronohook.outbound.egress import EgressPolicy
from chronohook.outbound.errors import EgressRefused
from chronohook.outbound.resolver import Resolver


class RefusedAtSocket(OSError):
    """The socket factory refused an address (an OSError so aiohttp reports it as a failed connection)."""


class GuardedResolver(AbstractResolver):
    def __init__(self, policy: EgressPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self._resolver.resolve(host, port)
        for address in addresses:
            reason = self._policy.refusal(address)
            if reason is not None:
                raise EgressRefused(f"{reason}; {host!r} resolves to {address}")
        results: list[ResolveResult] = []
        for address in addresses:
            address_family = socket.AF_INET if address.version == 4 else socket.AF_INET6
            if family not in (socket.AF_UNSPEC, address_family):
                continue
            results.append(
                ResolveResult(
                    hostname=host,
                    host=str(address),
                    port=port,
                    family=address_family,
                    proto=0,
                    flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                )
            )
        if not results:
            raise OSError(f"{host!r} has no address of the family asked for")
        return results

    async def close(self) -> None:
        return None


def guarded_socket(policy: EgressPolicy) -> Callable[[tuple[Any, ...]], socket.socket]:
    """A ``socket_factory`` that refuses to create a socket for an address the policy refuses."""

    def factory(addr_info: tuple[Any, ...]) -> socket.socket:
        family, type_, proto, _canonname, sockaddr = addr_info
        address = ip_address(str(sockaddr[0]).split("%", 1)[0])
        reason = policy.refusal(address)
        if reason is not None:
            raise RefusedAtSocket(reason)
        return socket.socket(family=family, type=type_, proto=proto)

    return factory
