"""An in-process HTTP proxy that applies the URL policy to every connection the browser makes.

Chromium sends all its traffic here (``playwright_proxy()``: loopback and link-local included,
which Chromium would otherwise bypass), so every subresource, redirect, WebSocket and popup is a
proxy request. For each destination the proxy resolves the name once for its whole life, checks
every address with ``guard.check_destination``, and connects to a checked address itself. The
browser never resolves a name, so a DNS answer that changes later (rebinding) cannot move it.
Refused destinations get a 403 and are recorded in ``blocked``; nothing is fetched for them.
An upstream that cannot be reached gets the proxy's own 502, marked with ``ERROR_HEADER`` when
it refused or reset the connection. The preview's own address (``patient``) is waited for while
it refuses connections, for up to ``listen_wait_s`` of the proxy's life: a dev server that is
still starting comes up meanwhile.

Plain-HTTP connections are kept between requests (HTTP/1.1 persistence) when the browser asks for
it (Chromium's ``Proxy-Connection: keep-alive``) and each response's end can be told (a length,
chunked, or no body): a dev server's page loads its code as a hundred small modules, and a new
browser connection plus a new upstream connection for every one of them cost a dev-server capture
hundreds of milliseconds (docs/performance.md, readiness). The upstream connection is kept for
the browser connection's next request to the same destination; one the origin closed meanwhile is
replaced once, for a request without a body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from playwright.async_api import ProxySettings

from lambda_fn.errors import UrlBlockedError
from lambda_fn.network.guard import (
    Resolver,
    UrlPolicy,
    check_destination,
    parse_authority,
    resolve_host,
)

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connector = Callable[[str, int], Awaitable[Streams]]

MAX_HEAD_BYTES = 64 * 1024  # request or response line plus headers
CHUNK_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 10.0
LISTEN_WAIT_S = 5.0
LISTEN_POLL_S = 0.2
# "<-loopback>" removes Chromium's implicit bypass of localhost, 127/8, ::1, 169.254/16 and
# fe80::/10: those must reach the proxy to be refused, not be fetched directly.
BYPASS_NOTHING = "<-loopback>"
# On a refused plain-HTTP request, so a caller can tell a policy refusal from a page's own 403.
BLOCKED_HEADER = "X-Egress-Blocked"
# On the proxy's own 502: ``connection_refused`` or ``connection_reset``, as the upstream did.
ERROR_HEADER = "X-Egress-Error"
CHROMIUM_EGRESS_ARGS = (
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",  # WebRTC UDP skips proxies
    "--disable-quic",  # HTTP/3 is UDP: only TCP through the proxy
)
ABSOLUTE_TARGET = re.compile(r"(http|ws)://([^/?#]*)(.*)", re.IGNORECASE | re.DOTALL)
TARGET_PORTS = {"http": 80, "ws": 80}
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Headers about this hop only; a proxy must not pass them on (RFC 9110 section 7.6.1).
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer"}
    | {"upgrade", "transfer-encoding", "host"}  # Host is rewritten from the checked target
)
CONNECTION_HEADERS = frozenset({"connection", "keep-alive", "proxy-connection"})
# Statuses whose responses never have a body (RFC 9112 section 6.3), besides 1xx and HEAD's.
BODILESS_STATUSES = frozenset({204, 304})
# Requests sent again on a fresh connection when a kept one turns out closed by the origin.
REPLAYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_CHUNK_SIZE_DIGITS = 16
REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    411: "Length Required",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
}

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BlockedDestination:
    """A destination the policy refused; ``why`` is the guard's code (``private_address``…)."""

    host: str
    port: int
    why: str


@dataclass(frozen=True, slots=True)
class ForwardedDestination:
    """A connection the proxy made: the name the browser asked for and the address it used."""

    host: str
    port: int
    address: str


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]


@dataclass(slots=True)
class _Upstream:
    """A connection to an origin, kept between one browser connection's requests to it."""

    authority: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used: bool = False  # has carried a response: the origin may have closed it since


class _StaleError(Exception):
    """A kept upstream connection ended before answering: the origin closed it while idle."""


class _RefusalError(Exception):
    """Answer the client with ``status`` and stop; raised only before any byte was relayed."""

    def __init__(
        self, status: int, message: str, *, why: str | None = None, error: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.why = why
        self.error = error


async def open_tcp(address: str, port: int) -> Streams:
    """Connect to an IP literal; ``AI_NUMERICHOST`` makes a host name fail instead of resolving."""
    return await asyncio.open_connection(
        address, port, limit=MAX_HEAD_BYTES, flags=socket.AI_NUMERICHOST
    )


class EgressProxy:
    """``async with EgressProxy(policy) as proxy:`` then launch Chromium with its settings."""

    def __init__(
        self,
        policy: UrlPolicy,
        *,
        resolve: Resolver = resolve_host,
        connect: Connector = open_tcp,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        patient: tuple[str, int] | None = None,
        listen_wait_s: float = LISTEN_WAIT_S,
    ) -> None:
        self.policy = policy
        self.patient = patient  # (host, port) waited for while it refuses connections
        self._listen_wait_s = listen_wait_s
        self._listen_until = 0.0
        self.blocked: list[BlockedDestination] = []
        self.forwarded: list[ForwardedDestination] = []
        self._resolve = resolve
        self._connect = connect
        self._connect_timeout_s = connect_timeout_s
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._checks: dict[tuple[str, int], asyncio.Task[tuple[str, ...]]] = {}
        self._writers: list[asyncio.StreamWriter] = []  # kept for the proxy's life: one capture

    @property
    def server(self) -> str:
        """The proxy's URL, ``http://127.0.0.1:PORT``."""
        if self._server is None:
            raise RuntimeError("the egress proxy is not running")
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def playwright_proxy(self) -> ProxySettings:
        """The ``proxy=`` argument of ``chromium.launch``: everything through here, no bypass."""
        return {"server": self.server, "bypass": BYPASS_NOTHING}

    def chromium_args(self) -> tuple[str, ...]:
        """Extra ``args`` for ``chromium.launch`` that keep UDP traffic off the network."""
        return CHROMIUM_EGRESS_ARGS

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", 0, limit=MAX_HEAD_BYTES
        )
        self._listen_until = time.monotonic() + self._listen_wait_s
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop listening, cancel every in-flight request and tunnel, close every socket."""
        if self._server is None:
            return
        self._server.close()
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for check in self._checks.values():
            check.cancel()
        await asyncio.gather(*self._checks.values(), return_exceptions=True)
        # A closed transport still waits to flush to a peer that may never read: drop it now.
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()
        await asyncio.sleep(0)  # let the aborted transports release their sockets
        self._server = None

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            await self._handle(reader, writer)
        except _RefusalError as exc:
            await _answer(writer, exc)
        except (OSError, asyncio.IncompleteReadError):
            pass  # a peer went away: nothing left to tell anyone
        except Exception:
            logger.exception("egress proxy connection failed")
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = _parse_request(await _read_head(reader, 431))
        if request.method == "CONNECT":
            await self._tunnel(request.target, reader, writer)
        else:
            await self._forward(request, reader, writer)

    async def _tunnel(
        self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        async with self._upstream(target, default_port=443) as (upstream_reader, upstream_writer):
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await _splice(reader, writer, upstream_reader, upstream_writer)

    async def _forward(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Absolute-form requests (``GET http://host/path``), one after another for as long as
        the browser keeps the connection and each response's end can be told."""
        upstream: _Upstream | None = None
        try:
            while True:
                scheme, authority, path = _split_target(request.target)
                body_bytes = _content_length(request.headers)
                upgrade = _header(request.headers, "upgrade")
                persistent = not upgrade and _wants_keep_alive(request)
                if upstream is not None and upstream.authority != authority:
                    upstream.writer.close()
                    upstream = None
                if upstream is None:
                    upstream = await self._connect_upstream(scheme, authority)
                head = _origin_request(request, authority, path, upgrade, persistent=persistent)
                upstream.writer.write(head)
                await _copy_exactly(reader, upstream.writer, body_bytes)
                if upgrade:
                    await _splice(reader, writer, upstream.reader, upstream.writer)
                    return
                try:
                    response = await _response_head(upstream.reader, stale=upstream.used)
                except _StaleError as exc:
                    if body_bytes or request.method not in REPLAYABLE_METHODS:
                        raise _RefusalError(
                            502, "no upstream response", error="connection_reset"
                        ) from exc
                    upstream.writer.close()
                    upstream = await self._connect_upstream(scheme, authority)
                    upstream.writer.write(head)
                    response = await _response_head(upstream.reader, stale=False)
                upstream.used = True
                kept = await _relay_response(
                    response, upstream.reader, writer, request.method, persistent=persistent
                )
                if not kept.upstream:
                    upstream.writer.close()
                    upstream = None
                if not kept.client:
                    return
                following = await _next_request(reader)
                if following is None:
                    return
                request = following
        finally:
            if upstream is not None:
                upstream.writer.close()

    async def _connect_upstream(self, scheme: str, authority: str) -> _Upstream:
        streams = await self._open_upstream(authority, TARGET_PORTS[scheme])
        return _Upstream(authority, *streams)

    @contextlib.asynccontextmanager
    async def _upstream(self, authority: str, *, default_port: int) -> AsyncIterator[Streams]:
        upstream_reader, upstream_writer = await self._open_upstream(authority, default_port)
        try:
            yield upstream_reader, upstream_writer
        finally:
            upstream_writer.close()

    async def _open_upstream(self, authority: str, default_port: int) -> Streams:
        """A connection to a checked address; the patient destination is asked again every
        ``LISTEN_POLL_S`` while all its addresses refuse and the listening wait lasts."""
        host, port, addresses = await self._admit(authority, default_port)
        while True:
            refused = False
            for address in addresses:
                try:
                    async with asyncio.timeout(self._connect_timeout_s):
                        upstream_reader, upstream_writer = await self._connect(address, port)
                except ConnectionRefusedError:
                    refused = True
                    continue
                except OSError:  # TimeoutError included: try the next checked address
                    continue
                self._writers.append(upstream_writer)
                self.forwarded.append(ForwardedDestination(host, port, address))
                return upstream_reader, upstream_writer
            if not (refused and self._is_listening_awaited(host, port)):
                error = "connection_refused" if refused else None
                raise _RefusalError(502, f"cannot connect to {host}:{port}", error=error)
            await asyncio.sleep(LISTEN_POLL_S)

    def _is_listening_awaited(self, host: str, port: int) -> bool:
        """Whether a refusal from ``host:port`` is waited out: the preview's own server may be
        starting, within ``listen_wait_s`` of the proxy's start."""
        return self.patient == (host.lower(), port) and time.monotonic() < self._listen_until

    async def _admit(self, authority: str, default_port: int) -> tuple[str, int, tuple[str, ...]]:
        host, port = authority, default_port
        try:
            host, port = parse_authority(authority, default_port)
            # Shielded: one cancelled connection must not cancel a check others are awaiting.
            addresses = await asyncio.shield(self._check(host, port))
        except UrlBlockedError as exc:
            self.blocked.append(BlockedDestination(host, port, exc.why))
            logger.info("egress blocked %s:%s (%s)", host, port, exc.why)
            raise _RefusalError(403, f"blocked: {exc.why}", why=exc.why) from exc
        return host, port, addresses

    def _check(self, host: str, port: int) -> asyncio.Task[tuple[str, ...]]:
        """The destination's check, run once per proxy: every later connection gets its answer.

        Pinning the first answer keeps what the browser reaches consistent for the whole capture,
        and spares a look-up per subresource. The resolver may block, so it runs in a thread.
        """
        key = (host, port)
        if key not in self._checks:
            self._checks[key] = asyncio.create_task(
                asyncio.to_thread(check_destination, host, port, self.policy, self._resolve)
            )
        return self._checks[key]


async def _read_head(reader: asyncio.StreamReader, too_large_status: int) -> bytes:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise _RefusalError(too_large_status, "header too large") from exc


def _parse_request(head: bytes) -> _Request:
    request_line, headers = _parse_head(head)
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _RefusalError(400, "malformed request line")
    return _Request(parts[0], parts[1], parts[2], headers)


def _parse_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    """Start line and headers. Stray CR, LF or NUL would let a peer smuggle extra headers."""
    lines = head.decode("latin-1").removesuffix("\r\n\r\n").split("\r\n")
    if any(char in line for line in lines for char in "\r\n\0"):
        raise _RefusalError(400, "malformed header")
    return lines[0], [_parse_header(line) for line in lines[1:]]


def _parse_header(line: str) -> tuple[str, str]:
    name, colon, value = line.partition(":")
    if not colon or not HEADER_NAME.fullmatch(name):
        raise _RefusalError(400, "malformed header")
    return name, value.strip()


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)


def _split_target(target: str) -> tuple[str, str, str]:
    match = ABSOLUTE_TARGET.fullmatch(target)
    if match is None:
        raise _RefusalError(400, "only absolute http:// and ws:// targets are proxied")
    path = match[3] if match[3].startswith("/") else f"/{match[3]}"
    return match[1].lower(), match[2], path


def _content_length(headers: list[tuple[str, str]]) -> int:
    """Request body size. Chunked uploads are refused: their end is not ours to find."""
    if _header(headers, "transfer-encoding") is not None:
        raise _RefusalError(411, "chunked request bodies are not supported")
    lengths = {value for key, value in headers if key.lower() == "content-length"}
    if len(lengths) > 1 or not all(value.isascii() and value.isdigit() for value in lengths):
        raise _RefusalError(400, "invalid Content-Length")
    return int(lengths.pop()) if lengths else 0


def _origin_request(
    request: _Request, authority: str, path: str, upgrade: str | None, *, persistent: bool
) -> bytes:
    """The request as the origin expects it: origin-form target, no proxy or hop-by-hop headers."""
    nominated = {
        token.strip().lower()
        for key, value in request.headers
        if key.lower() == "connection"
        for token in value.split(",")
    }
    headers = [
        (key, value)
        for key, value in request.headers
        if key.lower() not in HOP_BY_HOP and key.lower() not in nominated
    ]
    headers.insert(0, ("Host", authority))
    if upgrade:
        headers += [("Connection", "Upgrade"), ("Upgrade", upgrade)]
    else:
        headers.append(("Connection", "keep-alive" if persistent else "close"))
    return _serialise_head(f"{request.method} {path} {request.version}", headers)


def _tokens(headers: list[tuple[str, str]], *names: str) -> set[str]:
    """The comma-separated tokens of the ``names`` headers, lower-cased."""
    return {
        token.strip().lower()
        for key, value in headers
        if key.lower() in names
        for token in value.split(",")
    }


def _wants_keep_alive(request: _Request) -> bool:
    """Whether the browser asked to keep the connection (Chromium says so to every proxy)."""
    tokens = _tokens(request.headers, "connection", "proxy-connection")
    return request.version == "HTTP/1.1" and "keep-alive" in tokens and "close" not in tokens


async def _next_request(reader: asyncio.StreamReader) -> _Request | None:
    """The browser's next request on a kept connection, or ``None`` once it closed it."""
    try:
        head = await _read_head(reader, 431)
    except asyncio.IncompleteReadError:
        return None
    return _parse_request(head)


def _serialise_head(start_line: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [start_line, *(f"{key}: {value}" for key, value in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


@dataclass(frozen=True, slots=True)
class _Kept:
    """After a response: whether the browser's connection and the upstream one carry another."""

    client: bool
    upstream: bool


async def _response_head(
    upstream_reader: asyncio.StreamReader, *, stale: bool
) -> tuple[str, list[tuple[str, str]]]:
    """The origin's status line and headers; a kept connection (``stale``) that ended before
    any byte of them raises ``_StaleError``."""
    try:
        head = await _read_head(upstream_reader, 502)
    except asyncio.IncompleteReadError as exc:
        if stale and not exc.partial:
            raise _StaleError from exc
        raise _RefusalError(502, "no upstream response", error="connection_reset") from exc
    except ConnectionResetError as exc:
        if stale:
            raise _StaleError from exc
        raise _RefusalError(502, "no upstream response", error="connection_reset") from exc
    try:
        return _parse_head(head)
    except _RefusalError as exc:
        raise _RefusalError(502, "invalid upstream response") from exc


def _status(status_line: str) -> tuple[str, int]:
    """The response's HTTP version and status code."""
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise _RefusalError(502, "invalid upstream response")
    return parts[0], int(parts[1])


def _body_length(method: str, status: int, headers: list[tuple[str, str]]) -> int | None:
    """How the response's body ends: its length (0 for none), -1 for chunked, ``None`` when
    only the end of the connection tells."""
    if method == "HEAD" or status in BODILESS_STATUSES or 100 <= status < 200:
        return 0
    codings = [token for token in _tokens(headers, "transfer-encoding") if token]
    if codings:
        return -1 if codings == ["chunked"] else None
    lengths = {value for key, value in headers if key.lower() == "content-length"}
    if not lengths:
        return None
    if len(lengths) > 1 or not all(value.isascii() and value.isdigit() for value in lengths):
        raise _RefusalError(502, "invalid upstream Content-Length")
    return int(lengths.pop())


async def _relay_response(
    response: tuple[str, list[tuple[str, str]]],
    upstream_reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: str,
    *,
    persistent: bool,
) -> _Kept:
    """Stream the response back (interim 1xx answers first). Both connections are kept only
    when the body's end is known; the browser's only when it asked (``persistent``), the
    origin's only when it did not say ``close``."""
    status_line, headers = response
    version, status = _status(status_line)
    while 100 <= status < 200 and status != 101:  # 100 Continue, 103 Early Hints
        writer.write(_serialise_head(status_line, headers))
        status_line, headers = await _response_head(upstream_reader, stale=False)
        version, status = _status(status_line)
    length = _body_length(method, status, headers) if status != 101 else None
    client = persistent and length is not None
    origin = (
        length is not None
        and version == "HTTP/1.1"
        and "close" not in _tokens(headers, "connection")
    )
    kept = [
        (key, value)
        for key, value in headers
        if key.lower() not in CONNECTION_HEADERS
        and not (length == -1 and key.lower() == "content-length")
    ]
    connection = "keep-alive" if client else "close"
    writer.write(_serialise_head(status_line, [*kept, ("Connection", connection)]))
    if length is None:
        await _pipe(upstream_reader, writer)
        return _Kept(client=False, upstream=False)
    if length == -1:
        await _copy_chunked(upstream_reader, writer)
    else:
        await _copy_exactly(upstream_reader, writer, length)
    await writer.drain()
    return _Kept(client=client, upstream=origin)


async def _copy_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A chunked body as it comes, through its last chunk and trailers. A malformed one ends
    the connection: its end cannot be told."""
    while True:
        line = await _read_line(reader)
        size = line.split(b";", 1)[0].strip()
        if not 0 < len(size) <= MAX_CHUNK_SIZE_DIGITS or size.strip(b"0123456789abcdefABCDEF"):
            raise ConnectionResetError("malformed chunk size")
        writer.write(line)
        if not int(size, 16):
            break
        await _copy_exactly(reader, writer, int(size, 16))
        if await reader.readexactly(2) != b"\r\n":
            raise ConnectionResetError("malformed chunk")
        writer.write(b"\r\n")
    while (line := await _read_line(reader)) != b"\r\n":  # trailers, then the empty line
        writer.write(line)
    writer.write(line)


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\r\n")
    except asyncio.LimitOverrunError as exc:
        raise ConnectionResetError("line too long") from exc


async def _copy_exactly(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, remaining: int
) -> None:
    while remaining:
        chunk = await reader.read(min(remaining, CHUNK_BYTES))
        if not chunk:
            raise ConnectionResetError("the connection closed mid-body")
        writer.write(chunk)
        await writer.drain()
        remaining -= len(chunk)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then pass the half-close on."""
    while chunk := await reader.read(CHUNK_BYTES):
        writer.write(chunk)
        await writer.drain()
    if writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()


async def _splice(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream_reader: asyncio.StreamReader,
    upstream_writer: asyncio.StreamWriter,
) -> None:
    """Both directions until both end; a failure in one (a reset) ends the other too."""
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(_pipe(client_reader, upstream_writer))
            group.create_task(_pipe(upstream_reader, client_writer))
    except* OSError:
        pass


async def _answer(writer: asyncio.StreamWriter, refusal: _RefusalError) -> None:
    body = f"{refusal}\n".encode()
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    if refusal.why is not None:
        headers.append((BLOCKED_HEADER, refusal.why))
    if refusal.error is not None:
        headers.append((ERROR_HEADER, refusal.error))
    start_line = f"HTTP/1.1 {refusal.status} {REASONS[refusal.status]}"
    writer.write(_serialise_head(start_line, headers) + body)
    with contextlib.suppress(OSError):
        await writer.drain()
