"""The egress policy at the classifier level: every spelling of a refused address ends at the same check.

Nothing here connects anywhere: the addresses are only parsed and classified.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_address

import pytest

from chronohook.outbound.egress import EgressPolicy, literal_address
from chronohook.outbound.errors import EgressRefused

# The e2e stack's setting: two loopback addresses allowed, every other loopback refused.
POLICY = EgressPolicy.from_setting("127.0.0.2/32,127.0.0.3/32")

REFUSED_URLS = [
    # IPv4 loopback, every spelling
    "http://127.0.0.1/",
    "http://127.0.0.1:9092/",
    "https://127.0.0.1/",
    "HTTP://127.0.0.1/",
    "http://127.0.0.1./",
    "http://127.0.0.1../",
    "http://127.1/",
    "http://127.0.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0X7F.0.0.1/",
    "http://0x7f.0x0.0x0.0x1/",
    "http://0177.0.0.1/",
    "http://0177.1/",
    "http://017700000001/",
    "http://0x7f.0.0.1/",
    "http://127.000.000.001/",
    "http://%31%32%37.0.0.1/",
    "http://127.0.0.1%2e/",
    "http://①②⑦.0.0.1/",
    "http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11/",  # fullwidth digits and full stops
    "http://127。0。0。1/",
    "http://127｡0｡0｡1/",
    "http://127.0.0.4/",
    "http://127.255.255.254/",
    # userinfo tricks: the host is after the last '@'
    "http://allowed.com@127.0.0.1/",
    "http://127.0.0.2@127.0.0.1/",
    "http://user:pass@127.0.0.1:8080/",
    "http://a@b@127.0.0.1/",
    # localhost names
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    # this network, unspecified
    "http://0/",
    "http://0.0.0.0/",
    "http://[::]/",
    # IPv6 loopback and IPv4 inside IPv6
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::127.0.0.1]/",
    "http://[2002:7f00:1::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fe80::1%eth0]/",
    # other inside classes
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/role",
    "http://2852039166/",
    "http://0xa9fea9fe/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fd00:ec2::254]/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://192.0.2.1/",
    "http://198.18.0.1/",
    # not http(s)
    "ftp://93.184.216.34/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:11211/",
    # numeric but no address: never taken for a name
    "http://256.0.0.1/",
    "http://1.2.3.4.5/",
    "http://08.0.0.1/",
    "http://[::ffff:127.1]/",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_refused_url_spellings(url: str) -> None:
    # Given the stack's policy (127.0.0.2/32 and 127.0.0.3/32 allowed)
    # When / Then
    with pytest.raises(EgressRefused):
        POLICY.check_url(url)


def test_there_are_at_least_forty_refused_spellings() -> None:
    assert len(REFUSED_URLS) >= 40


ALLOWED_URLS = [
    "http://93.184.216.34/",
    "https://93.184.216.34:8443/path?q=1",
    "http://[2606:4700::1]/",
    "http://[::ffff:93.184.216.34]/",
    "http://example.com/",
    "https://xn--bcher-kva.example/",
    "http://bücher.example/",
    "http://127.0.0.2:8000/hook",
    "http://127.0.0.3/",
    "http://2130706434/",
    "http://[::ffff:127.0.0.2]/",
    "http://user@127.0.0.2/",
    "http://1.1/",  # 1.0.0.1, a public address
]


@pytest.mark.parametrize("url", ALLOWED_URLS)
def test_allowed_urls(url: str) -> None:
    # Given the stack's policy / When / Then: no refusal (names are checked at connect time, not here)
    POLICY.check_url(url)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0x", "0.0.0.0"),
        ("①②⑦.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("[fe80::1%25eth0]", "fe80::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("example.com", None),
        ("1.example", None),
        ("localhost", None),
    ],
)
def test_literal_address_reads_every_spelling(host: str, expected: str | None) -> None:
    # Given a host / When parsed / Then the one address it spells, or None for a name
    assert literal_address(host) == (ip_address(expected) if expected else None)


REFUSED_ADDRESSES = [
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "169.254.169.254",
    "172.16.0.1",
    "172.31.255.254",
    "192.0.0.9",
    "192.0.0.170",
    "192.0.2.1",
    "192.88.99.1",
    "192.168.0.1",
    "198.18.0.1",
    "198.19.255.254",
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.251",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",
    "::8.8.8.8",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::7f00:1",
    "64:ff9b:1::1",
    "2002:7f00:1::1",
    "2002:a00:1::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:db8::1",
    "3fff::1",
    "100::1",
    "fc00::1",
    "fd00:ec2::254",
    "fe80::1",
    "fec0::1",
    "ff02::1",
]


@pytest.mark.parametrize("text", REFUSED_ADDRESSES)
def test_refused_address_classes(text: str) -> None:
    # Given a refuse-by-default policy / When classified / Then refused, and the reason names the policy
    reason = EgressPolicy().refusal(ip_address(text))
    assert reason is not None
    assert "egress policy" in reason
    assert "CHRONOHOOK_EGRESS_ALLOW" in reason


@pytest.mark.parametrize(
    "text", ["93.184.216.34", "1.1.1.1", "8.8.8.8", "2606:4700::1", "2a00:1450:4001::200e", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_allowed(text: str) -> None:
    assert EgressPolicy().refusal(ip_address(text)) is None


def test_reason_says_what_the_address_is() -> None:
    # Given / When
    reason = EgressPolicy().refusal(IPv4Address("169.254.169.254"))
    # Then
    assert reason == (
        "refused by the egress policy: 169.254.169.254 is link-local (set CHRONOHOOK_EGRESS_ALLOW to allow it)"
    )


def test_embedded_ipv4_is_named() -> None:
    reason = EgressPolicy().refusal(IPv6Address("::ffff:127.0.0.1"))
    assert reason is not None
    assert "127.0.0.1" in reason and "loopback" in reason


def test_an_allowed_network_wins_over_the_class() -> None:
    # Given 127.0.0.2/32 allowed
    policy = EgressPolicy((IPv4Network("127.0.0.2/32"),))
    # Then that address passes, its IPv4-mapped form too, and its neighbours do not
    assert policy.refusal(IPv4Address("127.0.0.2")) is None
    assert policy.refusal(IPv6Address("::ffff:127.0.0.2")) is None
    assert policy.refusal(IPv4Address("127.0.0.1")) is not None
    assert policy.refusal(IPv6Address("::1")) is not None


def test_localhost_passes_when_loopback_is_allowed() -> None:
    # Given `chronohook dev`'s default
    policy = EgressPolicy.from_setting("127.0.0.0/8,::1/128")
    # When / Then
    policy.check_url("http://localhost:8000/")
    policy.check_url("http://[::1]:8000/")


def test_from_setting_ignores_blanks_and_names_a_bad_entry() -> None:
    assert EgressPolicy.from_setting("") == EgressPolicy()
    assert EgressPolicy.from_setting(" , 10.0.0.0/8 ,, ").allow == (IPv4Network("10.0.0.0/8"),)
    with pytest.raises(ValueError, match="not-a-network"):
        EgressPolicy.from_setting("10.0.0.0/8,not-a-network")
