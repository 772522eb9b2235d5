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

HTTP/1.1 is read and written by h11, a well-kept sans-IO implementation, rather than by framing
of the proxy's own: a server-role parser reads each of the browser's requests, a client-role
connection per upstream connection writes the request to the origin and reads its response
(syntax, Content-Length, chunked bodies, where each message ends, whether a connection can carry
another). The proxy's own answers are written by h11 too. A response is passed back in the
framing the origin gave it: its head rebuilt from h11's parsed fields, its body's bytes as they
came while h11 reads them to find the end, so chunk extensions and trailers arrive intact and a
body that ends with the connection is not re-framed. Around h11 the proxy keeps rules of its own:
a request head over ``MAX_HEAD_BYTES`` is a 431 even when it arrives whole, a CR or LF outside
CRLF a 400, a chunked upload a 411, and a request without Host is read (the target names the
host; h11 alone would refuse it).

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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import h11
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
Fields = Sequence[tuple[bytes, bytes]]

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
# Headers about this hop only; a proxy must not pass them on (RFC 9110 section 7.6.1).
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization", b"te", b"trailer"}
    | {b"upgrade", b"transfer-encoding", b"host"}  # Host is rewritten from the checked target
)
CONNECTION_HEADERS = frozenset({b"connection", b"keep-alive", b"proxy-connection"})
# Statuses whose responses never have a body (RFC 9112 section 6.3), besides 1xx and HEAD's.
BODILESS_STATUSES = frozenset({204, 304})
# Requests sent again on a fresh connection when a kept one turns out closed by the origin.
REPLAYABLE_METHODS = frozenset({b"GET", b"HEAD", b"OPTIONS"})
# h11 refuses an HTTP/1.1 request without Host (RFC 9112 section 3.2); the proxy takes the host
# from the target and never passes the browser's Host on, so such a request gets this one.
PLACEHOLDER_HOST = b"Host: \r\n"
REQUEST_HOST = re.compile(rb"\r\nhost[ \t]*:", re.IGNORECASE)
# h11's status hint for a request it cannot read -> the proxy's answer: 431 for a head over
# MAX_HEAD_BYTES, 411 for a transfer coding (chunked uploads are refused, see ``_forward``).
REQUEST_ERRORS = {431: 431, 501: 411}
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


def _request_parser(data: bytes = b"") -> h11.Connection:
    """A server-role h11 parser, given the bytes read so far (none is not an end of stream)."""
    parser = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
    if data:
        parser.receive_data(data)
    return parser


def _response_reader() -> h11.Connection:
    return h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)


@dataclass(slots=True)
class _Upstream:
    """A connection to an origin, kept between one browser connection's requests to it; h11
    (client role) writes its requests and reads its responses."""

    scheme: str
    authority: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    http: h11.Connection = field(default_factory=_response_reader)
    used: bool = False  # has carried a response: the origin may have closed it since

    def send(self, *events: h11.Request | h11.Data | h11.EndOfMessage) -> None:
        for event in events:
            self.writer.write(self.http.send(event))

    async def receive(self) -> h11.Event:
        """h11's next event of the response, reading as much as it needs."""
        while (event := self.http.next_event()) is h11.NEED_DATA:
            self.http.receive_data(await self.reader.read(CHUNK_BYTES))
        if not isinstance(event, h11.Event):  # PAUSED: a response is never read past its end
            raise RuntimeError("the upstream connection is paused")
        return event

    def close(self) -> None:
        self.writer.close()


class _Browser:
    """The browser's end of one proxy connection. Each request is read by a new server-role h11
    parser, fed what the previous one had read past its request: responses are passed back as
    the origin framed them, not written through h11, so one parser serves one request."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.http = _request_parser()

    def unread(self) -> bytes:
        """What the browser sent past the current request: a tunnel's or an upgrade's first
        bytes, or the next request."""
        return self.http.trailing_data[0]

    async def next_request(self) -> h11.Request | None:
        """The next request's head, or ``None`` when the browser ends the connection first."""
        data = self.unread()
        self.http = _request_parser(data)
        while True:
            try:
                event = self.http.next_event()
            except h11.RemoteProtocolError as exc:
                data = _with_placeholder_host(data, exc)
                self.http = _request_parser(data)
                continue
            if isinstance(event, h11.Request):
                _check_head(data[: len(data) - len(self.unread())])
                return event
            chunk = await self.reader.read(CHUNK_BYTES)
            if not chunk:
                return None  # gone before a whole request: nothing to answer
            data += chunk
            self.http.receive_data(chunk)

    async def body(self) -> AsyncIterator[bytes]:
        """The request's body as it arrives; h11 tells where it ends."""
        while not isinstance(event := self.http.next_event(), h11.EndOfMessage):
            if isinstance(event, h11.Data):
                yield event.data
                continue
            chunk = await self.reader.read(CHUNK_BYTES)
            if not chunk:
                raise ConnectionResetError("the browser closed the connection mid-body")
            self.http.receive_data(chunk)

    def send(self, event: h11.Response | h11.Data | h11.EndOfMessage) -> None:
        self.writer.write(self.http.send(event))

    async def answer(self, refusal: _RefusalError) -> None:
        """The proxy's own answer, and the connection's end."""
        body = f"{refusal}\n".encode()
        headers = [
            (b"Content-Type", b"text/plain; charset=utf-8"),
            (b"Content-Length", str(len(body)).encode()),
            (b"Connection", b"close"),
        ]
        if refusal.why is not None:
            headers.append((BLOCKED_HEADER.encode(), refusal.why.encode()))
        if refusal.error is not None:
            headers.append((ERROR_HEADER.encode(), refusal.error.encode()))
        reason = REASONS[refusal.status].encode()
        self.send(h11.Response(status_code=refusal.status, reason=reason, headers=headers))
        self.send(h11.Data(data=body))
        self.send(h11.EndOfMessage())
        with contextlib.suppress(OSError):
            await self.writer.drain()


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
    return await asyncio.open_connection(address, port, flags=socket.AI_NUMERICHOST)


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
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
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
        task = asyncio.create_task(self._serve(_Browser(reader, writer)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, browser: _Browser) -> None:
        self._writers.append(browser.writer)
        try:
            await self._handle(browser)
        except _RefusalError as exc:
            await browser.answer(exc)
        except OSError:
            pass  # a peer went away: nothing left to tell anyone
        except Exception:
            logger.exception("egress proxy connection failed")
        finally:
            browser.writer.close()

    async def _handle(self, browser: _Browser) -> None:
        request = await browser.next_request()
        if request is None:
            return
        if request.method == b"CONNECT":
            await self._tunnel(browser, request.target.decode())
        else:
            await self._forward(browser, request)

    async def _tunnel(self, browser: _Browser, target: str) -> None:
        async with self._upstream(target, default_port=443) as (upstream_reader, upstream_writer):
            browser.send(
                h11.Response(status_code=200, reason=b"Connection Established", headers=[])
            )
            upstream_writer.write(browser.unread())
            await _splice(browser.reader, browser.writer, upstream_reader, upstream_writer)

    async def _forward(self, browser: _Browser, request: h11.Request) -> None:
        """Absolute-form requests (``GET http://host/path``), one after another for as long as
        the browser keeps the connection and each response's end can be told."""
        upstream: _Upstream | None = None
        try:
            while True:
                scheme, authority, path = _split_target(request.target.decode())
                if _header(request.headers, b"transfer-encoding") is not None:
                    raise _RefusalError(411, "chunked request bodies are not supported")
                upgrade = _header(request.headers, b"upgrade")
                persistent = not upgrade and _wants_keep_alive(request)
                if upstream is not None and upstream.authority != authority:
                    upstream.close()
                    upstream = None
                if upstream is None:
                    upstream = await self._connect_upstream(scheme, authority)
                outgoing = _origin_request(request, authority, path, upgrade, persistent=persistent)
                upstream, response = await self._exchange(browser, upstream, outgoing)
                upstream.used = True
                response = await _final_response(response, upstream, browser.writer)
                if isinstance(response, h11.InformationalResponse):  # 101 Switching Protocols
                    await _switch(response, browser, upstream)
                    return
                kept = await _relay_response(
                    response, upstream, browser.writer, request.method, persistent=persistent
                )
                if not kept.upstream:
                    upstream.close()
                    upstream = None
                if not kept.client or (following := await browser.next_request()) is None:
                    return
                request = following
        finally:
            if upstream is not None:
                upstream.close()

    async def _exchange(
        self, browser: _Browser, upstream: _Upstream, outgoing: h11.Request
    ) -> tuple[_Upstream, h11.Response | h11.InformationalResponse]:
        """Send the request and the browser's body, and read the answer's head. A kept
        connection the origin closed meanwhile is replaced once, for a request without a body
        that is safe to send again; the connection that answered is returned with the head."""
        upstream.send(outgoing)
        sent_body = await _forward_body(browser, upstream)
        try:
            return upstream, await _response_head(upstream, stale=upstream.used)
        except _StaleError as exc:
            if sent_body or outgoing.method not in REPLAYABLE_METHODS:
                raise _RefusalError(502, "no upstream response", error="connection_reset") from exc
        upstream.close()
        fresh = await self._connect_upstream(upstream.scheme, upstream.authority)
        try:
            fresh.send(outgoing, h11.EndOfMessage())
            return fresh, await _response_head(fresh, stale=False)
        except BaseException:
            fresh.close()
            raise

    async def _connect_upstream(self, scheme: str, authority: str) -> _Upstream:
        streams = await self._open_upstream(authority, TARGET_PORTS[scheme])
        return _Upstream(scheme, authority, *streams)

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


def _check_head(head: bytes) -> None:
    """What h11 lets through and the proxy does not: a head over ``MAX_HEAD_BYTES`` that
    arrived whole (h11 limits only one still incomplete), and a CR or LF outside CRLF (h11
    takes a bare LF for a line end, as RFC 9112 section 2.2 allows; parsers may split such a
    head into different headers)."""
    if len(head) > MAX_HEAD_BYTES:
        raise _RefusalError(431, "header too large")
    if re.search(rb"\r(?!\n)|(?<!\r)\n", head):
        raise _RefusalError(400, "malformed header")


def _with_placeholder_host(data: bytes, error: h11.RemoteProtocolError) -> bytes:
    """``data`` with ``PLACEHOLDER_HOST`` after its request line, when h11 could not read it
    and its head is whole and has no Host; otherwise the refusal h11's error calls for."""
    status = REQUEST_ERRORS.get(error.error_status_hint, 400)
    head_end = data.find(b"\r\n\r\n") + 2
    if status != 400 or head_end < 2 or REQUEST_HOST.search(data, 0, head_end):
        message = "header too large" if status == 431 else f"malformed request: {error}"
        raise _RefusalError(status, message) from error
    line_end = data.index(b"\r\n") + 2
    return data[:line_end] + PLACEHOLDER_HOST + data[line_end:]


def _header(headers: Fields, name: bytes) -> bytes | None:
    """The first value of the header ``name`` (lower case, as h11 gives names)."""
    return next((value for key, value in headers if key == name), None)


def _tokens(headers: Fields, *names: bytes) -> set[bytes]:
    """The comma-separated tokens of the ``names`` headers, lower-cased."""
    return {
        token.strip().lower()
        for key, value in headers
        if key in names
        for token in value.split(b",")
    }


def _split_target(target: str) -> tuple[str, str, str]:
    match = ABSOLUTE_TARGET.fullmatch(target)
    if match is None:
        raise _RefusalError(400, "only absolute http:// and ws:// targets are proxied")
    path = match[3] if match[3].startswith("/") else f"/{match[3]}"
    return match[1].lower(), match[2], path


def _wants_keep_alive(request: h11.Request) -> bool:
    """Whether the browser asked to keep the connection (Chromium says so to every proxy)."""
    tokens = _tokens(request.headers, b"connection", b"proxy-connection")
    return request.http_version == b"1.1" and b"keep-alive" in tokens and b"close" not in tokens


def _origin_request(
    request: h11.Request, authority: str, path: str, upgrade: bytes | None, *, persistent: bool
) -> h11.Request:
    """The request as the origin expects it: origin-form target, no proxy or hop-by-hop headers."""
    dropped = HOP_BY_HOP | _tokens(request.headers, b"connection")
    headers = [(b"Host", authority.encode())]
    headers += [
        (name, value) for name, value in request.headers.raw_items() if name.lower() not in dropped
    ]
    if upgrade:
        headers += [(b"Connection", b"Upgrade"), (b"Upgrade", upgrade)]
    else:
        headers.append((b"Connection", b"keep-alive" if persistent else b"close"))
    return h11.Request(method=request.method, target=path.encode(), headers=headers)


async def _forward_body(browser: _Browser, upstream: _Upstream) -> bool:
    """The browser's request body to the origin as it arrives; whether there was any."""
    sent = False
    async for data in browser.body():
        upstream.send(h11.Data(data=data))
        await upstream.writer.drain()
        sent = True
    upstream.send(h11.EndOfMessage())
    return sent


async def _response_head(
    upstream: _Upstream, *, stale: bool
) -> h11.Response | h11.InformationalResponse:
    """The origin's status line and headers; a kept connection (``stale``) that ended before
    any byte of them raises ``_StaleError``."""
    try:
        event = await upstream.receive()
    except ConnectionResetError as exc:
        if stale:
            raise _StaleError from exc
        raise _RefusalError(502, "no upstream response", error="connection_reset") from exc
    except h11.RemoteProtocolError as exc:
        unread, ended = upstream.http.trailing_data
        if not ended:
            raise _RefusalError(502, "invalid upstream response") from exc
        if stale and not unread:
            raise _StaleError from exc
        raise _RefusalError(502, "no upstream response", error="connection_reset") from exc
    if not isinstance(event, h11.Response | h11.InformationalResponse):
        raise _RefusalError(502, "invalid upstream response")
    return event


async def _final_response(
    response: h11.Response | h11.InformationalResponse,
    upstream: _Upstream,
    writer: asyncio.StreamWriter,
) -> h11.Response | h11.InformationalResponse:
    """Interim answers (100 Continue, 103 Early Hints) passed back; the final response, or a
    101 that switches protocols, returned."""
    while isinstance(response, h11.InformationalResponse) and response.status_code != 101:
        writer.write(_relayed_head(response, response.headers.raw_items()))
        response = await _response_head(upstream, stale=False)
    return response


async def _switch(
    response: h11.InformationalResponse, browser: _Browser, upstream: _Upstream
) -> None:
    """An upgrade the origin accepted (WebSocket): its 101, then both directions as bytes,
    starting with what either side sent past its head."""
    browser.writer.write(_relayed_head(response, response.headers.raw_items()))
    browser.writer.write(upstream.http.trailing_data[0])
    upstream.writer.write(browser.unread())
    await _splice(browser.reader, browser.writer, upstream.reader, upstream.writer)


def _relayed_head(
    response: h11.Response | h11.InformationalResponse, headers: Iterable[tuple[bytes, bytes]]
) -> bytes:
    """An origin's head as passed back: its status line and ``headers`` (h11 has checked them)."""
    status = b"HTTP/%s %d %s" % (response.http_version, response.status_code, response.reason)
    return b"\r\n".join([status, *(name + b": " + value for name, value in headers), b"", b""])


@dataclass(frozen=True, slots=True)
class _Kept:
    """After a response: whether the browser's connection and the upstream one carry another."""

    client: bool
    upstream: bool


def _is_framed(method: bytes, response: h11.Response) -> bool:
    """Whether the body's end is told before the connection's (RFC 9112 section 6.3): no body
    (HEAD, 204, 304), a Content-Length, or chunked (the only coding h11 accepts)."""
    framing = {name for name, _ in response.headers} & {b"content-length", b"transfer-encoding"}
    return method == b"HEAD" or response.status_code in BODILESS_STATUSES or bool(framing)


async def _relay_response(
    response: h11.Response,
    upstream: _Upstream,
    writer: asyncio.StreamWriter,
    method: bytes,
    *,
    persistent: bool,
) -> _Kept:
    """Stream the response back. Both connections are kept only when the body's end is known;
    the browser's only when it asked (``persistent``), the origin's only when h11 finds it
    reusable (HTTP/1.1, and neither side said ``close``)."""
    framed = _is_framed(method, response)
    chunked = _header(response.headers, b"transfer-encoding") is not None
    client = persistent and framed
    headers = [
        (name, value)
        for name, value in response.headers.raw_items()
        if name.lower() not in CONNECTION_HEADERS
        and not (chunked and name.lower() == b"content-length")
    ]
    headers.append((b"Connection", b"keep-alive" if client else b"close"))
    writer.write(_relayed_head(response, headers))
    await _pass_body(upstream, writer)
    await writer.drain()
    http = upstream.http
    origin = framed and http.our_state is h11.DONE and http.their_state is h11.DONE
    if origin:
        http.start_next_cycle()
    return _Kept(client=client, upstream=origin)


async def _pass_body(upstream: _Upstream, writer: asyncio.StreamWriter) -> None:
    """The body's bytes as the origin framed them (chunk sizes, extensions and trailers), passed
    on as they come while h11 reads them to find the end. One that h11 cannot read, or that
    the origin cuts short, ends the connection: its end cannot be told."""
    passing = upstream.http.trailing_data[0]  # read along with the head
    try:
        while not isinstance(event := upstream.http.next_event(), h11.EndOfMessage):
            if event is h11.NEED_DATA:
                writer.write(passing)
                await writer.drain()
                passing = await upstream.reader.read(CHUNK_BYTES)
                upstream.http.receive_data(passing)
    except h11.RemoteProtocolError as exc:
        raise ConnectionResetError(f"unreadable upstream body: {exc}") from exc
    writer.write(passing[: len(passing) - len(upstream.http.trailing_data[0])])


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
