"""URL and destination policy: which hosts the browser may reach (DESIGN.md, issues 7 and 13).

URLs are read by ada (``ada-url``, the WHATWG URL Standard parser Node.js uses, UTS 46 IDNA
included), the reading Chromium gives them, so the host that is checked is the host the browser
connects to. This module keeps only the policy: http/https, no userinfo, DNS-shaped names,
allowed-host globs and public addresses (``addresses``). ``check_url`` returns the standard's
serialisation of what it checked; navigate to that, not to the input. The egress proxy checks every
connection the browser makes through ``check_destination``, the same code path.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ada_url

from lambda_fn.errors import UrlBlockedError
from lambda_fn.network.addresses import IpAddress, is_public_address, parse_address

Resolver = Callable[[str, int], Sequence[str]]

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
SCHEMES_BY_PORT = {port: scheme for scheme, port in DEFAULT_PORTS.items()}

# Chromium resolves these to loopback itself, without asking DNS.
LOCALHOST_NAMES = frozenset(
    {"localhost", "localhost.localdomain", "localhost6", "localhost6.localdomain6"}
)
# What a name that DNS can answer is made of. The standard allows more (``!"$&'()*+,;=``...),
# and there Chromium and the standard disagree (Chromium escapes ``*``): such hosts are refused.
_DNS_NAME = re.compile(r"[a-z0-9_.-]*")
# Characters that would end an authority or carry userinfo; a bare host never holds them.
_NOT_IN_AUTHORITY = re.compile(r"[/\\?#]")


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """``allowed_hosts``: fnmatch globs such as ``*.e2b.app`` (empty → any public host)."""

    allowed_hosts: tuple[str, ...] = ()
    allow_private: bool = False


@dataclass(frozen=True, slots=True)
class ParsedUrl:
    """A URL as the standard reads it, already within the policy's shape rules."""

    url: str  # the standard's serialisation
    scheme: str
    host: str  # as serialised in a URL: "example.com", "127.0.0.1", "[::1]"
    port: int
    address: IpAddress | None  # set when the host is an IP literal


@dataclass(frozen=True, slots=True)
class CheckedUrl:
    """A URL that passed the policy. ``url`` is its canonical form: navigate to it."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (the default ``Resolver``)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def parse_url(url: str) -> ParsedUrl:
    """Read ``url`` as the standard does and apply the shape rules; no DNS, no address policy."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlBlockedError(f"URL longer than {MAX_URL_LENGTH} characters", why="too_long")
    try:
        parsed = ada_url.URL(url)
    except ValueError as exc:
        raise UrlBlockedError("not a valid absolute URL", why="invalid_url") from exc
    scheme = parsed.protocol.removesuffix(":")
    if scheme not in DEFAULT_PORTS:
        raise UrlBlockedError("only http and https URLs are allowed", why="scheme")
    if parsed.username or parsed.password:
        raise UrlBlockedError("credentials in URL", why="userinfo")
    return ParsedUrl(
        url=parsed.href,
        scheme=scheme,
        host=parsed.hostname,
        port=int(parsed.port or DEFAULT_PORTS[scheme]),
        address=_address_of(parsed),
    )


def check_url(url: str, policy: UrlPolicy, resolve: Resolver = resolve_host) -> CheckedUrl:
    """Check ``url`` against ``policy``; refusals raise ``UrlBlockedError`` with a ``why`` code."""
    parsed = parse_url(url)
    addresses = _check_host(parsed, policy, resolve)
    return CheckedUrl(parsed.url, parsed.scheme, parsed.host, parsed.port, addresses)


def check_destination(
    host: str, port: int, policy: UrlPolicy, resolve: Resolver = resolve_host
) -> tuple[str, ...]:
    """Check a connection target (host as in a URL, IPv6 bracketed or bare); return its addresses.

    Connect to one of the returned addresses, never to the name again: a second resolution may
    give a different answer (DNS rebinding).
    """
    if not 0 <= port <= 0xFFFF:
        raise UrlBlockedError(f"port {port} out of range", why="invalid_port")
    bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return _check_host(_parse_authority(bracketed, "http"), policy, resolve)


def check_final_url(url: str, policy: UrlPolicy) -> None:
    """A navigation that ended at ``url`` (after redirects) must still be on an allowed host.

    Addresses are not resolved again: the egress proxy checked every one it connected to.
    """
    if not policy.allowed_hosts:
        return
    if not _is_allowed_host(parse_url(url).host, policy.allowed_hosts):
        raise UrlBlockedError(
            f"redirected to a host outside ALLOWED_URL_HOSTS: {url[:200]}", why="host_not_allowed"
        )


def parse_authority(authority: str, default_port: int) -> tuple[str, int]:
    """Split ``host[:port]`` (no userinfo allowed) into the canonical host and the port."""
    parsed = _parse_authority(authority, SCHEMES_BY_PORT[default_port])
    return parsed.host, parsed.port


def _parse_authority(authority: str, scheme: str) -> ParsedUrl:
    if "@" in authority:
        raise UrlBlockedError("credentials in URL", why="userinfo")
    if _NOT_IN_AUTHORITY.search(authority):
        raise UrlBlockedError("not a host", why="invalid_host")
    try:
        return parse_url(f"{scheme}://{authority}/")
    except UrlBlockedError as exc:
        raise UrlBlockedError(f"invalid host {authority[:64]!r}", why="invalid_host") from exc


def _address_of(parsed: ada_url.URL) -> IpAddress | None:
    if parsed.host_type == ada_url.HostType.IPV6:
        return ipaddress.IPv6Address(parsed.hostname[1:-1])
    if parsed.host_type == ada_url.HostType.IPV4:
        return ipaddress.IPv4Address(parsed.hostname)
    if not _DNS_NAME.fullmatch(parsed.hostname):
        raise UrlBlockedError("host is not a DNS name", why="invalid_host")
    return None


def _check_host(parsed: ParsedUrl, policy: UrlPolicy, resolve: Resolver) -> tuple[str, ...]:
    name = parsed.host
    if policy.allowed_hosts and not _is_allowed_host(name, policy.allowed_hosts):
        raise UrlBlockedError(f"host {name} is not allowed", why="host_not_allowed")
    if parsed.address is not None:
        addresses: tuple[IpAddress, ...] = (parsed.address,)
    elif not policy.allow_private and _is_localhost_name(name):
        raise UrlBlockedError(f"{name} is a loopback name", why="private_address")
    else:
        addresses = _resolve_addresses(name, parsed.port, resolve)
    if not policy.allow_private:
        _require_public(name, addresses)
    return tuple(str(address) for address in addresses)


def _is_allowed_host(name: str, globs: tuple[str, ...]) -> bool:
    bare = name.removesuffix(".")
    return any(fnmatch.fnmatchcase(bare, glob.lower().removesuffix(".")) for glob in globs)


def _is_localhost_name(name: str) -> bool:
    bare = name.rstrip(".")
    return bare in LOCALHOST_NAMES or bare.endswith(".localhost")


def _resolve_addresses(name: str, port: int, resolve: Resolver) -> tuple[IpAddress, ...]:
    try:
        answers = resolve(name, port)
    except (OSError, UnicodeError, ValueError) as exc:
        raise UrlBlockedError(f"cannot resolve {name}", why="unresolvable") from exc
    addresses = [parse_address(answer) for answer in answers]
    if not addresses or None in addresses:
        raise UrlBlockedError(f"no usable address for {name}", why="unresolvable")
    return tuple(dict.fromkeys(address for address in addresses if address is not None))


def _require_public(name: str, addresses: tuple[IpAddress, ...]) -> None:
    for address in addresses:
        if not is_public_address(address):
            raise UrlBlockedError(f"{name} is at non-public {address}", why="private_address")
