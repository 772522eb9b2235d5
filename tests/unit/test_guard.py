"""The URL policy: every spelling of a private destination is refused, public ones pass."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import zlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambda_fn.errors import UrlBlockedError
from lambda_fn.network.guard import (
    MAX_URL_LENGTH,
    CheckedUrl,
    UrlPolicy,
    check_destination,
    check_url,
    is_public_address,
    parse_authority,
)

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"
NAMES = {
    "public.test": [PUBLIC_V4],
    "dual.test": [PUBLIC_V4, PUBLIC_V6],
    "rebind.test": ["127.0.0.1"],
    "mixed.test": [PUBLIC_V4, "10.0.0.7"],
    "metadata.test": ["169.254.169.254"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "ula.test": ["fd00::1"],
    "3000-abc123.e2b.app": [PUBLIC_V4],
    "e2b.app": [PUBLIC_V4],
    "garbage.test": ["not-an-address"],
    "empty.test": [],
}
OPEN = UrlPolicy()
PRIVATE_OK = UrlPolicy(allow_private=True)


def fake_resolve(host: str, port: int) -> Sequence[str]:
    """The test's DNS: a fixed table, names ending in a dot included, nothing else resolves."""
    try:
        return NAMES[host.removesuffix(".")]
    except KeyError:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


def refuse_to_resolve(host: str, port: int) -> Sequence[str]:
    raise AssertionError(f"{host} must be judged without a DNS look-up")


def why_blocked(url: str, policy: UrlPolicy = OPEN) -> str:
    with pytest.raises(UrlBlockedError) as caught:
        check_url(url, policy, fake_resolve)
    assert caught.value.reason == f"url_blocked:{caught.value.why}"
    return caught.value.why


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/x",
        "http://2130706433/",  # decimal
        "http://0177.0.0.1/",  # octal
        "http://0177.0.0.01/",
        "http://0x7f.1/",  # hex, short form
        "http://0x7F000001/",
        "http://0x7f.0x0.0x0.0x1/",
        "http://00000177.1/",
        "http://127.1/",  # short form
        "http://127.0.1/",
        "http://127.0.0.1./",  # trailing dot
        "http://127.255.255.254/",
        "http://%31%32%37.0.0.1/",  # percent-encoded
        "https://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11/",  # full-width
        "http://①②⑦.0.0.1/",
        "http://0/",
        "http://0x/",
        "http://0.0.0.0/",
        "http://localhost/",
        "http://LOCALHOST./",
        "http://localhost:9001/2018-06-01/runtime/invocation/next",  # the Lambda runtime API
        "http://app.localhost/",
        "http://a.b.localhost./",
        "http://localhost.localdomain/",
        "http://localhost6/",
        "http://[::1]/",
        "http://[0:0:0:0:0:0:0:1]/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
        "http://[::ffff:7f00:1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::127.0.0.1]/",  # IPv4-compatible
        "http://[64:ff9b::7f00:1]/",  # NAT64 embedding loopback
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 embedding the metadata endpoint
        "http://[2002:7f00:1::]/",  # 6to4 embedding loopback
        "http://[2002:a00:1::1]/",  # 6to4 embedding 10.0.0.1
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
        "HTTP://127.0.0.1/",
        "http:127.0.0.1/",  # special schemes need no slashes
        "http:\\\\127.0.0.1\\x",
        "http:///127.0.0.1/",
        " http://127.0.0.1/ ",
        "http://\t127.0.\n0.1/",  # tabs and newlines are removed before parsing
        "http://127.0.0.1\\@public.test/",  # the backslash ends the host
        "http://rebind.test/",
        "http://rebind.test./",
        "http://mixed.test/",  # one private answer is enough
        "http://metadata.test/",
        "http://mapped.test/",
        "http://ula.test/",
    ],
)
def test_private_destination_is_blocked_whatever_the_spelling(url: str) -> None:
    assert why_blocked(url) == "private_address"


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0",
        "0.1.2.3",
        "10.0.0.1",
        "10.255.255.255",
        "100.64.0.1",
        "100.127.255.254",
        "127.0.0.1",
        "127.8.9.10",
        "169.254.0.1",
        "169.254.169.254",
        "172.16.0.1",
        "172.31.255.255",
        "192.0.0.8",
        "192.0.2.1",
        "192.88.99.1",
        "192.168.1.1",
        "198.18.0.1",
        "198.19.255.255",
        "198.51.100.1",
        "203.0.113.9",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "::ffff:10.0.0.1",
        "::ffff:0:0",
        "::10.0.0.1",
        "::93.184.216.34",  # IPv4-compatible addresses are deprecated: nothing public
        "64:ff9b::192.168.0.1",
        "64:ff9b:1::1",
        "100::1",
        "2001::1",
        "2001:db8::1",
        "2001:10::1",
        "2002:c0a8:101::1",
        "3fff::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "febf::1",
        "fec0::1",
        "feff::1",
        "ff02::1",
        "ff0e::1",
        "5f00::1",
        "4000::1",
        "not-an-address",
        "",
    ],
)
def test_non_public_address_is_recognised_and_blocked(address: str) -> None:
    assert not is_public_address(address)
    if address and ":" in address:
        assert why_blocked(f"http://[{address}]/") == "private_address"
    elif address and address[0].isdigit():
        assert why_blocked(f"http://{address}/") == "private_address"


@pytest.mark.parametrize(
    ("url", "host", "addresses"),
    [
        ("http://93.184.216.34/", "93.184.216.34", ("93.184.216.34",)),
        ("http://1.1.1.1/", "1.1.1.1", ("1.1.1.1",)),
        ("http://8.8.8.8/", "8.8.8.8", ("8.8.8.8",)),
        ("http://100.63.255.255/", "100.63.255.255", ("100.63.255.255",)),
        ("http://100.128.0.0/", "100.128.0.0", ("100.128.0.0",)),
        ("http://172.32.0.1/", "172.32.0.1", ("172.32.0.1",)),
        ("http://1572395042/", "93.184.216.34", ("93.184.216.34",)),
        ("http://[2606:4700:4700::1111]/", "[2606:4700:4700::1111]", ("2606:4700:4700::1111",)),
        ("http://[::ffff:93.184.216.34]/", "[::ffff:5db8:d822]", ("::ffff:5db8:d822",)),
        ("http://[64:ff9b::93.184.216.34]/", "[64:ff9b::5db8:d822]", ("64:ff9b::5db8:d822",)),
        ("http://[2002:5db8:d822::1]/", "[2002:5db8:d822::1]", ("2002:5db8:d822::1",)),
        ("http://public.test/", "public.test", (PUBLIC_V4,)),
        ("http://dual.test/", "dual.test", (PUBLIC_V4, PUBLIC_V6)),
        ("https://3000-abc123.e2b.app", "3000-abc123.e2b.app", (PUBLIC_V4,)),
    ],
)
def test_public_destination_passes_with_its_addresses(
    url: str, host: str, addresses: tuple[str, ...]
) -> None:
    checked = check_url(url, OPEN, fake_resolve)
    assert (checked.host, checked.addresses) == (host, addresses)


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("http://public.test", "http://public.test/"),
        ("HTTPS://PUBLIC.TEST:443/a?b#c", "https://public.test/a?b#c"),
        ("http://public.test:80/", "http://public.test/"),
        ("http://public.test:0080/", "http://public.test/"),
        ("http://public.test:8080", "http://public.test:8080/"),
        ("http://public.test:/x", "http://public.test/x"),
        ("http://public.test?q", "http://public.test/?q"),
        ("http://public.test#f", "http://public.test/#f"),
        ("http:public.test/x", "http://public.test/x"),
        ("http:\\\\public.test\\a\\b?c\\d", "http://public.test/a/b?c\\d"),
        ("http://public.test./", "http://public.test./"),
        ("http://pub%6cic.test/", "http://public.test/"),
        ("http://public.test\\@127.0.0.1/", "http://public.test/@127.0.0.1/"),
        ("http://public.test#@127.0.0.1/", "http://public.test/#@127.0.0.1/"),
        ("http://public.test?@127.0.0.1/", "http://public.test/?@127.0.0.1/"),
        ("http://93.184.216.034/", "http://93.184.216.28/"),  # 034 is octal, as in Chromium
        ("http://93.12113954/", "http://93.184.216.34/"),
        ("http://[0:0:0:0:0:ffff:5db8:d822]:8443/", "http://[::ffff:5db8:d822]:8443/"),
    ],
)
def test_url_is_rebuilt_from_what_was_checked(url: str, canonical: str) -> None:
    assert check_url(url, OPEN, fake_resolve).url == canonical


def test_checked_url_reports_scheme_host_port_and_addresses() -> None:
    assert check_url("https://public.test:8443/p", OPEN, fake_resolve) == CheckedUrl(
        url="https://public.test:8443/p",
        scheme="https",
        host="public.test",
        port=8443,
        addresses=(PUBLIC_V4,),
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://public.test/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/html,hi",
        "ws://public.test/",
        "wss://public.test/",
        "blob:http://public.test/x",
        "about:blank",
        "chrome://version",
        "view-source:http://public.test/",
    ],
)
def test_only_http_and_https_are_allowed(url: str) -> None:
    assert why_blocked(url) == "scheme"


@pytest.mark.parametrize(
    "url", ["//public.test/", "public.test", "", "   ", "http//public.test", "1http://public.test/"]
)
def test_what_is_not_an_absolute_url_to_the_standard_is_refused(url: str) -> None:
    assert why_blocked(url) == "invalid_url"


@pytest.mark.parametrize(
    "url",
    [
        "http://user@public.test/",
        "http://user:pass@public.test/",
        "http://public.test@127.0.0.1/",
        "http://127.0.0.1@public.test/",
        "http://a%40b@public.test/",
        "https://u:p@[::1]:8080/",
    ],
)
def test_userinfo_is_refused(url: str) -> None:
    assert why_blocked(url) == "userinfo"


def test_url_of_exactly_the_limit_passes_and_one_more_is_too_long() -> None:
    prefix = "http://public.test/"
    longest = prefix + "a" * (MAX_URL_LENGTH - len(prefix))
    assert check_url(longest, OPEN, fake_resolve).host == "public.test"
    assert why_blocked(longest + "a") == "too_long"


def test_length_is_checked_before_anything_else() -> None:
    assert why_blocked("ftp://user@127.0.0.1/" + "a" * MAX_URL_LENGTH) == "too_long"


@pytest.mark.parametrize(
    "url",
    [
        "http://public.test:65536/",
        "http://public.test:-1/",
        "http://public.test:8o/",
        "http://public.test:٨٠/",  # non-ASCII digits
        "http://public.test: 80/",
        "http://public.test:80:80/",
    ],
)
def test_invalid_port_is_not_a_url(url: str) -> None:
    assert why_blocked(url) == "invalid_url"


@pytest.mark.parametrize(
    "url",
    [
        "http:///",
        "http://",
        "http://:80/",
        "http://1.2.3.4.5/",  # ends in a number but is not IPv4
        "http://4294967296/",
        "http://256.0.0.1/",
        "http://1.256.0.0/",
        "http://1.2.65536/",
        "http://09.1/",  # 9 is not an octal digit
        "http://0x100.0/",
        "http://a.b.1/",
        "http://a.0x/",
        "http://[::1/",
        "http://[::1]x/",
        "http://[127.0.0.1]/",
        "http://[fe80::1%25eth0]/",  # zone id
        "http://[::1%eth0]/",
        "http://[12345::]/",
        "http://a b.test/",
        "http://a<b.test/",
        "http://a%00b.test/",
        "http://a%2fb.test/",
        "http://%ff.test/",  # not UTF-8
        "http://a^b/",
        "http://ex%61mple%2ecom%3a80/",
    ],
)
def test_invalid_host_is_not_a_url(url: str) -> None:
    assert why_blocked(url) == "invalid_url"


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://./", "."),
        ("http://../", ".."),
        ("http://foo.09../", "foo.09.."),
        ("http://a..b/", "a..b"),
        ("http://.public.test/", ".public.test"),
        ("https://fa\u00df.example/", "xn--fa-hia.example"),  # UTS 46, not IDNA 2003's fass
        ("http://\u03c2.example/", "xn--3xa.example"),
        ("http://a.b.c.xn--pokxncvks/", "a.b.c.xn--pokxncvks"),  # invalid punycode, as Chromium
        ("http://xn--/", "xn--"),
    ],
)
def test_odd_but_valid_hosts_are_read_as_the_standard_and_chromium_read_them(
    url: str, host: str
) -> None:
    assert check_url(url, OPEN, lambda name, port: [PUBLIC_V4]).host == host


@pytest.mark.parametrize(
    "url", ["http://!$&'()*+,;=_`{}~.test/", "http://a*b.test/", "http://a%2Ab.test/"]
)
def test_host_that_is_no_dns_name_is_refused(url: str) -> None:
    assert why_blocked(url) == "invalid_host"


@pytest.mark.parametrize("url", ["http://localhost../", "http://app.localhost.../"])
def test_loopback_names_with_any_trailing_dots_are_private(url: str) -> None:
    assert why_blocked(url) == "private_address"


@pytest.mark.parametrize(
    ("globs", "url", "allowed"),
    [
        (("*.e2b.app",), "https://3000-abc123.e2b.app", True),
        (("*.E2B.APP",), "https://3000-ABC123.e2b.app.", True),
        (("*.e2b.app.",), "https://3000-abc123.e2b.app", True),
        (("*.e2b.app",), "https://e2b.app", False),
        (("*.e2b.app",), "https://evil-e2b.app", False),
        (("*.e2b.app",), "https://e2b.app.evil.test", False),
        (("*.e2b.app",), "https://public.test", False),
        (("*.e2b.app",), "http://1572395042/", False),
        (("e2b.app", "public.test"), "https://public.test/", True),
        (("3000-*.e2b.app",), "https://3000-abc123.e2b.app", True),
        (("3001-*.e2b.app",), "https://3000-abc123.e2b.app", False),
    ],
)
def test_allowed_host_globs_are_case_insensitive_and_exact(
    globs: tuple[str, ...], url: str, allowed: bool
) -> None:
    policy = UrlPolicy(allowed_hosts=globs)
    if allowed:
        assert check_url(url, policy, fake_resolve).addresses == (PUBLIC_V4,)
    else:
        assert why_blocked(url, policy) == "host_not_allowed"


def test_allowed_host_still_needs_a_public_address() -> None:
    policy = UrlPolicy(allowed_hosts=("*.test",))
    assert why_blocked("http://rebind.test/", policy) == "private_address"


@pytest.mark.parametrize(
    "url", ["http://nowhere.test/", "http://empty.test/", "http://garbage.test/"]
)
def test_name_without_usable_addresses_is_unresolvable(url: str) -> None:
    assert why_blocked(url) == "unresolvable"


def test_resolver_failures_other_than_lookup_errors_are_unresolvable() -> None:
    def too_long_label(host: str, port: int) -> Sequence[str]:
        raise UnicodeError("label too long")

    with pytest.raises(UrlBlockedError) as caught:
        check_url("http://" + "a" * 64 + ".test/", OPEN, too_long_label)
    assert caught.value.why == "unresolvable"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://2130706433/",
        "http://localhost/",
        "http://a.localhost/",
        "http://93.184.216.34/",
    ],
)
def test_ip_literals_and_loopback_names_are_judged_without_dns(url: str) -> None:
    if url == "http://93.184.216.34/":
        assert check_url(url, OPEN, refuse_to_resolve).addresses == ("93.184.216.34",)
    else:
        with pytest.raises(UrlBlockedError, match=r"loopback|non-public"):
            check_url(url, OPEN, refuse_to_resolve)


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("http://127.0.0.1:8000/", ("127.0.0.1",)),
        ("http://0x7f.1/", ("127.0.0.1",)),
        ("http://[::1]:8000/", ("::1",)),
        ("http://rebind.test/", ("127.0.0.1",)),
        ("http://mixed.test/", (PUBLIC_V4, "10.0.0.7")),
    ],
)
def test_allow_private_lets_loopback_through_for_local_development(
    url: str, addresses: tuple[str, ...]
) -> None:
    assert check_url(url, PRIVATE_OK, fake_resolve).addresses == addresses


def test_allow_private_still_enforces_scheme_userinfo_and_hosts() -> None:
    policy = UrlPolicy(allowed_hosts=("*.e2b.app",), allow_private=True)
    assert why_blocked("file:///etc/passwd", policy) == "scheme"
    assert why_blocked("http://u@127.0.0.1/", policy) == "userinfo"
    assert why_blocked("http://127.0.0.1/", policy) == "host_not_allowed"


@pytest.mark.parametrize(
    ("host", "port", "addresses"),
    [
        ("public.test", 443, (PUBLIC_V4,)),
        ("PUBLIC.test.", 80, (PUBLIC_V4,)),
        ("93.184.216.34", 443, ("93.184.216.34",)),
        ("[2606:4700:4700::1111]", 443, ("2606:4700:4700::1111",)),
        ("2606:4700:4700::1111", 443, ("2606:4700:4700::1111",)),
    ],
)
def test_destination_check_returns_the_addresses_to_connect_to(
    host: str, port: int, addresses: tuple[str, ...]
) -> None:
    assert check_destination(host, port, OPEN, fake_resolve) == addresses


@pytest.mark.parametrize(
    ("host", "port", "why"),
    [
        ("127.0.0.1", 80, "private_address"),
        ("0x7f.1", 80, "private_address"),
        ("[::1]", 443, "private_address"),
        ("::ffff:127.0.0.1", 443, "private_address"),
        ("localhost", 443, "private_address"),
        ("169.254.169.254", 80, "private_address"),
        ("rebind.test", 443, "private_address"),
        ("nowhere.test", 443, "unresolvable"),
        ("[fe80::1%eth0]", 443, "invalid_host"),
        ("a/b", 443, "invalid_host"),
        ("public.test", 70000, "invalid_port"),
        ("public.test", -1, "invalid_port"),
    ],
)
def test_destination_check_refuses_like_the_url_check(host: str, port: int, why: str) -> None:
    with pytest.raises(UrlBlockedError) as caught:
        check_destination(host, port, OPEN, fake_resolve)
    assert caught.value.why == why


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("public.test", ("public.test", 443)),
        ("public.test:8443", ("public.test", 8443)),
        ("public.test:", ("public.test", 443)),
        ("[::1]:80", ("[::1]", 80)),
        ("[::1]", ("[::1]", 443)),
    ],
)
def test_authority_splits_into_host_and_port(authority: str, expected: tuple[str, int]) -> None:
    assert parse_authority(authority, 443) == expected


@pytest.mark.parametrize(
    ("authority", "why"),
    [
        ("u@public.test", "userinfo"),
        ("public.test:x", "invalid_host"),
        ("[::1", "invalid_host"),
        ("a/b", "invalid_host"),
    ],
)
def test_malformed_authority_is_refused(authority: str, why: str) -> None:
    with pytest.raises(UrlBlockedError) as caught:
        parse_authority(authority, 443)
    assert caught.value.why == why


# --- generated inputs ---------------------------------------------------------------------------

ADDRESS_POOL = [
    PUBLIC_V4,
    PUBLIC_V6,
    "1.1.1.1",
    "::ffff:8.8.8.8",
    "2002:808:808::1",
    "127.0.0.1",
    "10.1.2.3",
    "169.254.169.254",
    "100.64.1.1",
    "192.168.0.1",
    "::1",
    "fd00::1",
    "fe80::1",
    "::ffff:127.0.0.1",
    "64:ff9b::a00:1",
    "224.0.0.1",
    "0.0.0.0",
]
CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
# Blocked by the guard although Python calls them global: protocol assignments (but for IANA's
# globally reachable ones), 6to4 relays.
STRICTER_THAN_PYTHON = (
    ipaddress.IPv4Network("192.0.0.0/24"),
    ipaddress.IPv4Network("192.88.99.0/24"),
)


# The "Globally Reachable: True" rows of IANA's special-purpose registries, written out here.
IANA_GLOBALLY_REACHABLE = [
    ipaddress.ip_network(block)
    for block in (
        "192.0.0.9/32",
        "192.0.0.10/32",
        "192.31.196.0/24",
        "192.52.193.0/24",
        "192.175.48.0/24",
        "64:ff9b::/96",
        "2001:1::1/128",
        "2001:1::2/128",
        "2001:1::3/128",
        "2001:3::/32",
        "2001:4:112::/48",
        "2001:20::/28",
        "2001:30::/28",
        "2620:4f:8000::/48",
    )
]


def hashing_resolve(host: str, port: int) -> Sequence[str]:
    """Any name resolves, to one to three addresses from a mixed public/private pool."""
    seed = zlib.crc32(host.encode())
    return [ADDRESS_POOL[(seed >> shift) % len(ADDRESS_POOL)] for shift in range(seed % 3 + 1)]


def reached_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 destination an IPv4-mapped, NAT64 or 6to4 address stands for, else itself."""
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address in ipaddress.IPv6Network("64:ff9b::/96"):
        return ipaddress.IPv4Address(address.packed[-4:])
    return address.ipv4_mapped or address.sixtofour or address


def is_obviously_non_public(text: str) -> bool:
    """An oracle independent of the guard's tables: Python's own address classification, but for
    the blocks IANA marks globally reachable inside ranges Python 3.11 calls private."""
    address = reached_address(text)
    if any(address in network for network in IANA_GLOBALLY_REACHABLE):
        return False
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or (isinstance(address, ipaddress.IPv4Address) and address in CGNAT)
    )


def spell_ipv4(value: int, parts: int, radix: str) -> str:
    """``value`` in 1 to 4 parts (the last one takes the remaining bytes) and a given radix."""
    numbers = [(value >> (8 * (3 - index))) & 0xFF for index in range(parts - 1)]
    numbers.append(value & ((1 << (8 * (5 - parts))) - 1))
    formats = {"dec": "{}", "oct": "0{:o}", "hex": "0x{:x}", "HEX": "0X{:X}"}
    return ".".join(formats[radix].format(number) for number in numbers)


HOSTS = st.one_of(
    st.sampled_from([*NAMES, "localhost", "x.localhost", "nowhere.test", "a.e2b.app"]),
    st.builds(
        spell_ipv4,
        st.integers(0, 2**32 - 1),
        st.integers(1, 4),
        st.sampled_from(["dec", "oct", "hex", "HEX"]),
    ),
    st.ip_addresses(v=6).map(lambda address: f"[{address}]"),
    st.ip_addresses(v=4).map(str),
    st.from_regex(r"[a-z0-9.%\[\]:_\-]{1,30}", fullmatch=True),
    st.text(max_size=30),
)
URL_SHAPED = st.builds(
    "{}{}{}{}{}{}".format,
    st.sampled_from(["http:", "https:", "HTTP:", "ftp:", "javascript:", ""]),
    st.sampled_from(["//", "", "/", "\\\\", "///", "/\\"]),
    st.sampled_from(["", "", "user@", "u:p@", "@", "public.test@"]),
    HOSTS,
    st.sampled_from(["", "", ":80", ":8080", ":", ":65536", ":x", ":0"]),
    st.sampled_from(["", "/", "/a?b#c", "\\x@127.0.0.1", "?@localhost", "#x"])
    | st.text(max_size=40),
)


@given(st.text(max_size=2100))
def test_arbitrary_text_is_checked_or_refused_never_crashes(url: str) -> None:
    with contextlib.suppress(UrlBlockedError):
        check_url(url, OPEN, hashing_resolve)


@settings(max_examples=500)
@given(URL_SHAPED, st.booleans())
def test_url_shaped_input_never_yields_a_private_address(url: str, with_hosts: bool) -> None:
    policy = UrlPolicy(allowed_hosts=("*.test", "*.e2b.app") if with_hosts else ())
    try:
        checked = check_url(url, policy, hashing_resolve)
    except UrlBlockedError:
        return
    assert checked.addresses
    assert not any(is_obviously_non_public(address) for address in checked.addresses)
    assert all(is_public_address(address) for address in checked.addresses)
    assert check_url(checked.url, policy, hashing_resolve) == checked  # a fixed point


@settings(max_examples=500)
@given(URL_SHAPED)
def test_allow_private_only_relaxes_the_address_rule(url: str) -> None:
    try:
        checked = check_url(url, OPEN, hashing_resolve)
    except UrlBlockedError as error:
        if error.why != "private_address":
            with pytest.raises(UrlBlockedError):
                check_url(url, PRIVATE_OK, hashing_resolve)
        return
    assert check_url(url, PRIVATE_OK, hashing_resolve) == checked


@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 4),
    st.sampled_from(["dec", "oct", "hex", "HEX"]),
    st.sampled_from(["", "."]),
)
def test_every_ipv4_spelling_means_the_same_address(
    value: int, parts: int, radix: str, dot: str
) -> None:
    address = ipaddress.IPv4Address(value)
    url = f"http://{spell_ipv4(value, parts, radix)}{dot}/"
    assert check_url(url, PRIVATE_OK, refuse_to_resolve).addresses == (str(address),)
    if is_public_address(address):
        assert check_url(url, OPEN, refuse_to_resolve).host == str(address)
    else:
        assert why_blocked(url) == "private_address"


@given(st.ip_addresses())
def test_public_verdict_agrees_with_python_classification(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    if is_public_address(address):
        assert not is_obviously_non_public(str(address))
    if isinstance(address, ipaddress.IPv4Address) and not is_obviously_non_public(str(address)):
        stricter = any(address in network for network in STRICTER_THAN_PYTHON) and not any(
            address in network for network in IANA_GLOBALLY_REACHABLE
        )
        assert is_public_address(address) is not stricter


@pytest.mark.parametrize("network", IANA_GLOBALLY_REACHABLE, ids=str)
def test_every_block_iana_marks_globally_reachable_is_public(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> None:
    samples = {network[0], network[-1], network[network.num_addresses // 2]}
    if network == ipaddress.IPv6Network("64:ff9b::/96"):
        samples = {ipaddress.IPv6Address("64:ff9b::5db8:d822")}  # embeds 93.184.216.34
    assert [address for address in samples if not is_public_address(address)] == []


@pytest.mark.parametrize("address", ["64:ff9b:1::5db8:d822", "64:ff9b:1:ffff::1"])
def test_local_use_translation_prefix_stays_refused(address: str) -> None:
    assert not is_public_address(address)
