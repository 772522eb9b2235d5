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
still starting comes up meanwhile. CONNECT (HTTPS, wss) and accepted upgrades become tunnels,
bytes both ways; plain-HTTP requests are forwarded in origin form, chunked uploads refused (411).
Every HTTP/1.1 message, the browser's and the origin's, is read and written by ``http1`` (h11).

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
from lambda_fn.network.http1 import (
    CHUNK_BYTES,
    Browser,
    RefusalError,
    StaleError,
    Upstream,
    final_response,
    forward_body,
    header,
    origin_request,
    relay_response,
    relayed_head,
    response_head,
    wants_keep_alive,
)

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connector = Callable[[str, int], Awaitable[Streams]]

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
# Requests sent again on a fresh connection when a kept one turns out closed by the origin.
REPLAYABLE_METHODS = frozenset({b"GET", b"HEAD", b"OPTIONS"})

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
        task = asyncio.create_task(self._serve(Browser(reader, writer)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, browser: Browser) -> None:
        self._writers.append(browser.writer)
        try:
            await self._handle(browser)
        except RefusalError as exc:
            await browser.answer(exc.status, str(exc), _marks(exc))
        except OSError:
            pass  # a peer went away: nothing left to tell anyone
        except Exception:
            logger.exception("egress proxy connection failed")
        finally:
            browser.writer.close()

    async def _handle(self, browser: Browser) -> None:
        request = await browser.next_request()
        if request is None:
            return
        if request.method == b"CONNECT":
            await self._tunnel(browser, request.target.decode())
        else:
            await self._forward(browser, request)

    async def _tunnel(self, browser: Browser, target: str) -> None:
        async with self._upstream(target, default_port=443) as (upstream_reader, upstream_writer):
            browser.send(
                h11.Response(status_code=200, reason=b"Connection Established", headers=[])
            )
            upstream_writer.write(browser.unread())
            await _splice(browser.reader, browser.writer, upstream_reader, upstream_writer)

    async def _forward(self, browser: Browser, request: h11.Request) -> None:
        """Absolute-form requests (``GET http://host/path``), one after another for as long as
        the browser keeps the connection and each response's end can be told."""
        upstream: Upstream | None = None
        try:
            while True:
                scheme, authority, path = _split_target(request.target.decode())
                if header(request.headers, b"transfer-encoding") is not None:
                    raise RefusalError(411, "chunked request bodies are not supported")
                upgrade = header(request.headers, b"upgrade")
                persistent = not upgrade and wants_keep_alive(request)
                if upstream is not None and upstream.authority != authority:
                    upstream.close()
                    upstream = None
                if upstream is None:
                    upstream = await self._connect_upstream(scheme, authority)
                outgoing = origin_request(request, authority, path, upgrade, persistent=persistent)
                upstream, response = await self._exchange(browser, upstream, outgoing)
                upstream.used = True
                response = await final_response(response, upstream, browser.writer)
                if isinstance(response, h11.InformationalResponse):  # 101 Switching Protocols
                    await _switch(response, browser, upstream)
                    return
                kept = await relay_response(
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
        self, browser: Browser, upstream: Upstream, outgoing: h11.Request
    ) -> tuple[Upstream, h11.Response | h11.InformationalResponse]:
        """Send the request and the browser's body, and read the answer's head. A kept
        connection the origin closed meanwhile is replaced once, for a request without a body
        that is safe to send again; the connection that answered is returned with the head."""
        upstream.send(outgoing)
        sent_body = await forward_body(browser, upstream)
        try:
            return upstream, await response_head(upstream, stale=upstream.used)
        except StaleError as exc:
            if sent_body or outgoing.method not in REPLAYABLE_METHODS:
                raise RefusalError(502, "no upstream response", error="connection_reset") from exc
        upstream.close()
        fresh = await self._connect_upstream(upstream.scheme, upstream.authority)
        try:
            fresh.send(outgoing, h11.EndOfMessage())
            return fresh, await response_head(fresh, stale=False)
        except BaseException:
            fresh.close()
            raise

    async def _connect_upstream(self, scheme: str, authority: str) -> Upstream:
        streams = await self._open_upstream(authority, TARGET_PORTS[scheme])
        return Upstream(scheme, authority, *streams)

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
                raise RefusalError(502, f"cannot connect to {host}:{port}", error=error)
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
            raise RefusalError(403, f"blocked: {exc.why}", why=exc.why) from exc
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


def _split_target(target: str) -> tuple[str, str, str]:
    match = ABSOLUTE_TARGET.fullmatch(target)
    if match is None:
        raise RefusalError(400, "only absolute http:// and ws:// targets are proxied")
    path = match[3] if match[3].startswith("/") else f"/{match[3]}"
    return match[1].lower(), match[2], path


def _marks(refusal: RefusalError) -> list[tuple[bytes, bytes]]:
    """The headers that tell the proxy's own answer from an origin's: the policy's refusal and
    what the upstream did."""
    marks: list[tuple[bytes, bytes]] = []
    if refusal.why is not None:
        marks.append((BLOCKED_HEADER.encode(), refusal.why.encode()))
    if refusal.error is not None:
        marks.append((ERROR_HEADER.encode(), refusal.error.encode()))
    return marks


async def _switch(
    response: h11.InformationalResponse, browser: Browser, upstream: Upstream
) -> None:
    """An upgrade the origin accepted (WebSocket): its 101, then both directions as bytes,
    starting with what either side sent past its head."""
    browser.writer.write(relayed_head(response, response.headers.raw_items()))
    browser.writer.write(upstream.http.trailing_data[0])
    upstream.writer.write(browser.unread())
    await _splice(browser.reader, browser.writer, upstream.reader, upstream.writer)


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
