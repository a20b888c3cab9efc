"""Name resolution for the sender, behind a small port: the loop's getaddrinfo for real, a table for tests.

The sender resolves every name through this port and checks every address it gets before it connects
(chronohook/outbound/guard.py); tests answer with any address they like (10.0.0.1, 169.254.169.254) without a
packet leaving the machine.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Protocol

Address = IPv4Address | IPv6Address


class ResolveError(OSError):
    """The name has no address (or the lookup failed); the sender reports it as a DNS error."""


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[Address]:
        """Every address ``host`` has (in the resolver's order, duplicates removed); ResolveError if none."""
        ...


class SystemResolver:
    """The event loop's getaddrinfo (the OS resolver, /etc/hosts included), run off the loop's thread."""

    async def resolve(self, host: str, port: int) -> list[Address]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, family=socket.AF_UNSPEC)
        except (socket.gaierror, UnicodeError) as exc:
            raise ResolveError(f"cannot resolve {host!r}: {exc}") from exc
        addresses: list[Address] = []
        for _family, _type, _proto, _canonname, sockaddr in infos:
            # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"); the address is what the policy judges.
            address = ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise ResolveError(f"cannot resolve {host!r}: no address")
        return addresses


class StaticResolver:
    """A fixed table of names to addresses (test double); records every name it was asked for."""

    def __init__(self, table: Mapping[str, Sequence[Address | str]]) -> None:
        self._table = {name.lower(): [ip_address(str(a)) for a in addrs] for name, addrs in table.items()}
        self.asked: list[tuple[str, int]] = []

    async def resolve(self, host: str, port: int) -> list[Address]:
        self.asked.append((host, port))
        addresses = self._table.get(host.lower().rstrip("."), [])
        if not addresses:
            raise ResolveError(f"cannot resolve {host!r}: not in the table")
        return list(addresses)
