"""The egress policy: which addresses an outbound request may reach (docs/decisions/0009-egress-guard.md).

Two places ask it. At create, ``check_url`` refuses a URL whose host is a literal address the policy refuses (a
422 for the client). At connect time the sender resolves every name itself and asks ``refusal`` about every
address before it connects to any (chronohook/outbound/resolver.py), so a name that resolves, or later rebinds, to
an inside address never reaches it.

Every spelling of a host goes through ``literal_address``: IDNA/NFKC mapping first (fullwidth and circled digits,
ideographic full stops), then the forms ``inet_aton`` and the WHATWG URL standard accept (decimal ``2130706433``,
hex ``0x7f.1``, octal ``0177.0.0.1``, short ``127.1``, trailing dots), and IPv6 in brackets with a zone id.
"""

from __future__ import annotations

import contextlib
import unicodedata
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import unquote, urlsplit

import idna
from yarl import URL

from chronohook.outbound.errors import EgressRefused

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

ALLOW_SETTING = "CHRONOHOOK_EGRESS_ALLOW"
SCHEMES = frozenset({"http", "https"})
# Hosts whose pre-lookup verdict a policy remembers (cleared when full; a verdict never changes for a policy).
HOST_CACHE_SIZE = 4096

# Named first so a refusal says what the address is; the ipaddress properties and ``is_global`` catch the rest.
_V4_CLASSES: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), label)
    for net, label in (
        ("0.0.0.0/8", "in 'this network' (0.0.0.0/8)"),
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("100.64.0.0/10", "carrier-grade NAT (100.64.0.0/10)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.0.0.0/24", "an IETF protocol assignment (192.0.0.0/24)"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "the deprecated 6to4 relay anycast range"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)
_V6_CLASSES: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), label)
    for net, label in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "a deprecated IPv4-compatible address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("100::/64", "discard-only"),
        ("2001::/32", "a Teredo address"),
        ("2001:2::/48", "a benchmarking address"),
        ("2001:10::/28", "an ORCHID address"),
        ("2001:20::/28", "an ORCHID address"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
        ("5f00::/16", "an SRv6 segment identifier"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)
_MAPPED = IPv6Network("::ffff:0:0/96")
_COMPATIBLE = IPv6Network("::/96")
_NAT64 = IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = IPv6Network("2002::/16")
_TEREDO = IPv6Network("2001::/32")


@dataclass(frozen=True)
class EgressPolicy:
    """Refuses every address that is not global, except those inside an ``allow`` network (which wins)."""

    allow: tuple[Network, ...] = ()
    _host_cache: dict[str, str | None] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_setting(cls, text: str) -> EgressPolicy:
        """Comma-separated CIDR networks (``CHRONOHOOK_EGRESS_ALLOW``); blanks ignored, empty allows none."""
        networks: list[Network] = []
        for entry in text.split(","):
            entry = entry.strip()
            if not entry:
                continue
            try:
                networks.append(ip_network(entry, strict=False))
            except ValueError as exc:
                raise ValueError(f"{ALLOW_SETTING}: {entry!r} is not a CIDR network ({exc})") from exc
        return cls(tuple(networks))

    def host_refusal(self, host: str) -> str | None:
        """``host_refusal`` remembered per host: the executor checks every request, mostly to hosts it has seen."""
        cache = self._host_cache
        if host not in cache:
            if len(cache) >= HOST_CACHE_SIZE:
                cache.clear()
            cache[host] = host_refusal(self, host)
        return cache[host]

    def allows(self, address: Address) -> bool:
        return self.refusal(address) is None

    def check_url(self, url: str) -> None:
        """Raise EgressRefused when the URL is not http(s) or its host is a literal address (or localhost) refused.

        Names are not resolved here: the sender checks what they resolve to when it connects.
        """
        check_url(url, self)

    def refusal(self, address: Address) -> str | None:
        """None when the policy lets a request reach ``address``, else why not (naming the policy)."""
        reason = self._why_refused(address)
        if reason is None:
            return None
        return f"refused by the egress policy: {reason} (set {ALLOW_SETTING} to allow it)"

    def _allowed_explicitly(self, address: Address) -> bool:
        return any(address.version == net.version and address in net for net in self.allow)

    def _why_refused(self, address: Address) -> str | None:
        if self._allowed_explicitly(address):
            return None
        if isinstance(address, IPv6Address):
            for embedded, form in _embedded_ipv4(address):
                inner = self._why_refused(embedded)
                if inner is not None:
                    return f"{address} embeds {embedded} ({form}), and {inner}"
            if address in _MAPPED or address in _NAT64 or address in _SIX_TO_FOUR:
                # These reach the IPv4 address they embed, and that one passed.
                return None
            classes: tuple[tuple[Network, str], ...] = _V6_CLASSES
        else:
            classes = _V4_CLASSES
        for network, label in classes:
            if address in network:
                return f"{address} is {label}"
        return _refused_by_property(address)


def _refused_by_property(address: Address) -> str | None:
    if address.is_loopback:
        return f"{address} is loopback"
    if address.is_unspecified:
        return f"{address} is unspecified"
    if address.is_link_local:
        return f"{address} is link-local"
    if address.is_multicast:
        return f"{address} is multicast"
    if address.is_private:
        return f"{address} is private"
    if isinstance(address, IPv6Address) and address.is_site_local:
        return f"{address} is site-local"
    if address.is_reserved:
        return f"{address} is reserved"
    if not address.is_global:
        return f"{address} is not a global address"
    return None


def _embedded_ipv4(address: IPv6Address) -> list[tuple[IPv4Address, str]]:
    """The IPv4 addresses an IPv6 address carries, with the name of the form that carries them."""
    found: list[tuple[IPv4Address, str]] = []
    if address.ipv4_mapped is not None:
        found.append((address.ipv4_mapped, "IPv4-mapped"))
    elif address in _COMPATIBLE and int(address) > 1:
        found.append((IPv4Address(int(address) & 0xFFFFFFFF), "IPv4-compatible"))
    elif address in _NAT64:
        found.append((IPv4Address(int(address) & 0xFFFFFFFF), "NAT64"))
    elif address.sixtofour is not None:
        found.append((address.sixtofour, "6to4"))
    elif address in _TEREDO and address.teredo is not None:
        server, client = address.teredo
        found.extend(((server, "Teredo server"), (client, "Teredo client")))
    return found


def normalise_host(host: str) -> str:
    """The host as a resolver would see it: percent-decoded, IDNA (UTS 46) and NFKC mapped, lower case."""
    text = unquote(host).strip() if "%" in host else host.strip()
    if text.isascii() or (text.startswith("[") and text.endswith("]")):
        # For ASCII, IDNA mapping and NFKC only lower-case.
        return text.lower()
    with contextlib.suppress(idna.IDNAError, UnicodeError, ValueError):
        text = idna.uts46_remap(text, std3_rules=False, transitional=False)
    text = unicodedata.normalize("NFKC", text)
    # Ideographic and other full stops that IDNA maps to "."; NFKC alone leaves U+3002 as it is.
    for stop in ("\u3002", "\uff0e", "\uff61"):
        text = text.replace(stop, ".")
    return text.lower()


def literal_address(host: str) -> Address | None:
    """The address a host spells literally, in any spelling a resolver or URL parser accepts; None for a name.

    Raises EgressRefused for a host that looks numeric but spells no address (``256.1``, ``[::ffff:127.1]``):
    a resolver might still map it somewhere, so it is never taken for a name.
    """
    text = normalise_host(host)
    if text.startswith("[") and text.endswith("]"):
        return _ipv6_literal(text[1:-1], host)
    if ":" in text:
        return _ipv6_literal(text, host)
    return _ipv4_literal(text.rstrip("."), host)


def _ipv6_literal(text: str, original: str) -> IPv6Address:
    # A zone id ("%eth0", or "%25eth0" percent-encoded in a URL) names an interface, not a different address.
    address_text = text.split("%", 1)[0]
    try:
        address = ip_address(address_text)
    except ValueError as exc:
        raise EgressRefused(f"host {original!r} is not a valid IPv6 address") from exc
    if not isinstance(address, IPv6Address):  # pragma: no cover - ip_address of text with ':' is IPv6
        raise EgressRefused(f"host {original!r} is not a valid IPv6 address")
    return address


def _ipv4_literal(text: str, original: str) -> IPv4Address | None:
    parts = text.split(".")
    if not parts or not _is_number(parts[-1]):
        # WHATWG: a host is an IPv4 address exactly when its last label is a number.
        return None
    if len(parts) > 4 or not all(_is_number(part) for part in parts):
        raise EgressRefused(f"host {original!r} ends in a number but is not a valid IPv4 address")
    values = [_number(part) for part in parts]
    last_limit = 256 ** (5 - len(values))
    if any(value > 255 for value in values[:-1]) or values[-1] >= last_limit:
        raise EgressRefused(f"host {original!r} is not a valid IPv4 address (a part is out of range)")
    number = values[-1]
    for index, value in enumerate(values[:-1]):
        number += value << (8 * (3 - index))
    return IPv4Address(number)


def _is_number(part: str) -> bool:
    if part[:2] in ("0x", "0X"):
        digits = part[2:]
        return all(c in "0123456789abcdefABCDEF" for c in digits)
    return part != "" and part.isascii() and part.isdigit()


def _number(part: str) -> int:
    if part[:2] in ("0x", "0X"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        if any(c in "89" for c in part):
            raise EgressRefused(f"{part!r} is neither octal nor decimal")
        return int(part, 8)
    return int(part)


def is_localhost_name(host: str) -> bool:
    """``localhost`` and every ``*.localhost`` name always mean loopback (RFC 6761)."""
    name = normalise_host(host).rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def url_hosts(url: str) -> list[str]:
    """The host as each parser that may handle this URL sees it (yarl for aiohttp, urlsplit, and WHATWG's split).

    Parsers disagree on tricks like ``http://a@b@c/`` or backslashes; checking every reading closes the gap.
    """
    hosts: list[str] = []
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise EgressRefused(f"the URL cannot be parsed ({exc})") from exc
    if parsed.raw_host:
        hosts.append(parsed.raw_host)
    if parsed.host and parsed.host != parsed.raw_host:
        hosts.append(parsed.host)
    try:
        split_host = urlsplit(url).hostname
    except ValueError as exc:
        raise EgressRefused(f"the URL cannot be parsed ({exc})") from exc
    if split_host:
        hosts.append(split_host)
    hosts.append(_whatwg_host(url))
    return [host for host in hosts if host]


def _whatwg_host(url: str) -> str:
    """The host the WHATWG URL standard reads: backslash counts as slash, the last '@' ends the userinfo."""
    _, _, rest = url.partition(":")
    rest = rest.replace("\\", "/").lstrip("/")
    authority = rest
    for stop in "/?#":
        authority = authority.split(stop, 1)[0]
    host_port = authority.rsplit("@", 1)[-1]
    if host_port.startswith("["):
        return host_port.split("]", 1)[0] + "]"
    return host_port.rsplit(":", 1)[0] if host_port.count(":") == 1 else host_port


def check_url(url: str, policy: EgressPolicy) -> None:
    """``EgressPolicy.check_url`` as a function."""
    scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
    if scheme not in SCHEMES:
        raise EgressRefused(f"refused by the egress policy: only http and https URLs are sent, not {scheme or url!r}")
    hosts = url_hosts(url)
    if not hosts:
        raise EgressRefused("the URL has no host")
    for host in dict.fromkeys(hosts):  # the parsers mostly agree: check each distinct reading once
        reason = policy.host_refusal(host)
        if reason is not None:
            raise EgressRefused(reason)


def host_refusal(policy: EgressPolicy, host: str) -> str | None:
    """Why a URL host is refused before any lookup (a refused literal, localhost, no address at all), or None."""
    if is_localhost_name(host) and not policy.allows(IPv4Address("127.0.0.1")):
        return f"refused by the egress policy: {host!r} always means loopback (set {ALLOW_SETTING} to allow it)"
    try:
        address = literal_address(host)
    except EgressRefused as exc:
        return str(exc)
    return None if address is None else policy.refusal(address)
