"""HTTP/1.1 messages over asyncio streams, for the egress proxy: both ends of what it relays.

HTTP/1.1 is read and written by h11, a well-kept sans-IO implementation, rather than by framing
of the proxy's own: a server-role parser reads each of the browser's requests (``Browser``), a
client-role connection per upstream connection writes the request to the origin and reads its
response (``Upstream``): syntax, Content-Length, chunked bodies, where each message ends, whether
a connection can carry another. The proxy's own answers are written by h11 too. A response is
passed back in the framing the origin gave it: its head rebuilt from h11's parsed fields, its
body's bytes as they came while h11 reads them to find the end, so chunk extensions and trailers
arrive intact and a body that ends with the connection is not re-framed. Around h11 the proxy
keeps rules of its own: a request head over ``MAX_HEAD_BYTES`` is a 431 even when it arrives
whole, a CR or LF outside CRLF a 400, a transfer coding h11 does not read a 411, and a request
without Host is read (the target names the host; h11 alone would refuse it). A message that
cannot be read or relayed raises ``RefusalError``, which the proxy answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

import h11

Fields = Sequence[tuple[bytes, bytes]]

MAX_HEAD_BYTES = 64 * 1024  # request or response line plus headers
CHUNK_BYTES = 64 * 1024
# Headers about this hop only; a proxy must not pass them on (RFC 9110 section 7.6.1).
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization", b"te", b"trailer"}
    | {b"upgrade", b"transfer-encoding", b"host"}  # Host is rewritten from the checked target
)
CONNECTION_HEADERS = frozenset({b"connection", b"keep-alive", b"proxy-connection"})
# Statuses whose responses never have a body (RFC 9112 section 6.3), besides 1xx and HEAD's.
BODILESS_STATUSES = frozenset({204, 304})
# h11 refuses an HTTP/1.1 request without Host (RFC 9112 section 3.2); the proxy takes the host
# from the target and never passes the browser's Host on, so such a request gets this one.
PLACEHOLDER_HOST = b"Host: \r\n"
REQUEST_HOST = re.compile(rb"\r\nhost[ \t]*:", re.IGNORECASE)
# h11's status hint for a request it cannot read -> the proxy's answer: 431 for a head over
# MAX_HEAD_BYTES, 411 for a transfer coding (the proxy refuses chunked uploads too).
REQUEST_ERRORS = {431: 431, 501: 411}
REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    411: "Length Required",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
}


class StaleError(Exception):
    """A kept upstream connection ended before answering: the origin closed it while idle."""


class RefusalError(Exception):
    """Answer the client with ``status`` and stop; raised only before any byte was relayed.
    ``why`` is the policy's reason for a refusal, ``error`` what the upstream did."""

    def __init__(
        self, status: int, message: str, *, why: str | None = None, error: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.why = why
        self.error = error


def _request_parser(data: bytes = b"") -> h11.Connection:
    """A server-role h11 parser, given the bytes read so far (none is not an end of stream)."""
    parser = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
    if data:
        parser.receive_data(data)
    return parser


def _response_reader() -> h11.Connection:
    return h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)


@dataclass(slots=True)
class Upstream:
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


class Browser:
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

    async def answer(self, status: int, message: str, marks: Fields = ()) -> None:
        """The proxy's own answer, with the headers ``marks``, and the connection's end."""
        body = f"{message}\n".encode()
        headers = [
            (b"Content-Type", b"text/plain; charset=utf-8"),
            (b"Content-Length", str(len(body)).encode()),
            (b"Connection", b"close"),
            *marks,
        ]
        reason = REASONS[status].encode()
        self.send(h11.Response(status_code=status, reason=reason, headers=headers))
        self.send(h11.Data(data=body))
        self.send(h11.EndOfMessage())
        with contextlib.suppress(OSError):
            await self.writer.drain()


def _check_head(head: bytes) -> None:
    """What h11 lets through and the proxy does not: a head over ``MAX_HEAD_BYTES`` that
    arrived whole (h11 limits only one still incomplete), and a CR or LF outside CRLF (h11
    takes a bare LF for a line end, as RFC 9112 section 2.2 allows; parsers may split such a
    head into different headers)."""
    if len(head) > MAX_HEAD_BYTES:
        raise RefusalError(431, "header too large")
    if re.search(rb"\r(?!\n)|(?<!\r)\n", head):
        raise RefusalError(400, "malformed header")


def _with_placeholder_host(data: bytes, error: h11.RemoteProtocolError) -> bytes:
    """``data`` with ``PLACEHOLDER_HOST`` after its request line, when h11 could not read it
    and its head is whole and has no Host; otherwise the refusal h11's error calls for."""
    status = REQUEST_ERRORS.get(error.error_status_hint, 400)
    head_end = data.find(b"\r\n\r\n") + 2
    if status != 400 or head_end < 2 or REQUEST_HOST.search(data, 0, head_end):
        message = "header too large" if status == 431 else f"malformed request: {error}"
        raise RefusalError(status, message) from error
    line_end = data.index(b"\r\n") + 2
    return data[:line_end] + PLACEHOLDER_HOST + data[line_end:]


def header(headers: Fields, name: bytes) -> bytes | None:
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


def wants_keep_alive(request: h11.Request) -> bool:
    """Whether the browser asked to keep the connection (Chromium says so to every proxy)."""
    tokens = _tokens(request.headers, b"connection", b"proxy-connection")
    return request.http_version == b"1.1" and b"keep-alive" in tokens and b"close" not in tokens


def origin_request(
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


async def forward_body(browser: Browser, upstream: Upstream) -> bool:
    """The browser's request body to the origin as it arrives; whether there was any."""
    sent = False
    async for data in browser.body():
        upstream.send(h11.Data(data=data))
        await upstream.writer.drain()
        sent = True
    upstream.send(h11.EndOfMessage())
    return sent


async def response_head(
    upstream: Upstream, *, stale: bool
) -> h11.Response | h11.InformationalResponse:
    """The origin's status line and headers; a kept connection (``stale``) that ended before
    any byte of them raises ``StaleError``."""
    try:
        event = await upstream.receive()
    except ConnectionResetError as exc:
        if stale:
            raise StaleError from exc
        raise RefusalError(502, "no upstream response", error="connection_reset") from exc
    except h11.RemoteProtocolError as exc:
        unread, ended = upstream.http.trailing_data
        if not ended:
            raise RefusalError(502, "invalid upstream response") from exc
        if stale and not unread:
            raise StaleError from exc
        raise RefusalError(502, "no upstream response", error="connection_reset") from exc
    if not isinstance(event, h11.Response | h11.InformationalResponse):
        raise RefusalError(502, "invalid upstream response")
    return event


async def final_response(
    response: h11.Response | h11.InformationalResponse,
    upstream: Upstream,
    writer: asyncio.StreamWriter,
) -> h11.Response | h11.InformationalResponse:
    """Interim answers (100 Continue, 103 Early Hints) passed back; the final response, or a
    101 that switches protocols, returned."""
    while isinstance(response, h11.InformationalResponse) and response.status_code != 101:
        writer.write(relayed_head(response, response.headers.raw_items()))
        response = await response_head(upstream, stale=False)
    return response


def relayed_head(
    response: h11.Response | h11.InformationalResponse, headers: Iterable[tuple[bytes, bytes]]
) -> bytes:
    """An origin's head as passed back: its status line and ``headers`` (h11 has checked them)."""
    status = b"HTTP/%s %d %s" % (response.http_version, response.status_code, response.reason)
    return b"\r\n".join([status, *(name + b": " + value for name, value in headers), b"", b""])


@dataclass(frozen=True, slots=True)
class Kept:
    """After a response: whether the browser's connection and the upstream one carry another."""

    client: bool
    upstream: bool


def _is_framed(method: bytes, response: h11.Response) -> bool:
    """Whether the body's end is told before the connection's (RFC 9112 section 6.3): no body
    (HEAD, 204, 304), a Content-Length, or chunked (the only coding h11 accepts)."""
    framing = {name for name, _ in response.headers} & {b"content-length", b"transfer-encoding"}
    return method == b"HEAD" or response.status_code in BODILESS_STATUSES or bool(framing)


async def relay_response(
    response: h11.Response,
    upstream: Upstream,
    writer: asyncio.StreamWriter,
    method: bytes,
    *,
    persistent: bool,
) -> Kept:
    """Stream the response back. Both connections are kept only when the body's end is known;
    the browser's only when it asked (``persistent``), the origin's only when h11 finds it
    reusable (HTTP/1.1, and neither side said ``close``)."""
    framed = _is_framed(method, response)
    chunked = header(response.headers, b"transfer-encoding") is not None
    client = persistent and framed
    headers = [
        (name, value)
        for name, value in response.headers.raw_items()
        if name.lower() not in CONNECTION_HEADERS
        and not (chunked and name.lower() == b"content-length")
    ]
    headers.append((b"Connection", b"keep-alive" if client else b"close"))
    writer.write(relayed_head(response, headers))
    await _pass_body(upstream, writer)
    await writer.drain()
    http = upstream.http
    origin = framed and http.our_state is h11.DONE and http.their_state is h11.DONE
    if origin:
        http.start_next_cycle()
    return Kept(client=client, upstream=origin)


async def _pass_body(upstream: Upstream, writer: asyncio.StreamWriter) -> None:
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
