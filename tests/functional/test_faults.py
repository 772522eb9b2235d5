"""Injected faults with the AWS emulator: every result is the documented one, and no accepted
screenshot is ever lost. For each ``captured`` result the object is at its key with the reported
SHA-256 (and the published event says the same); no other result leaves an object behind.

S3 faults come from a small HTTP proxy in front of the emulator (``AWS_ENDPOINT_URL_S3``): it
answers chosen ``PutObject`` requests itself, resets their connection, or loses the emulator's
answer after the object was stored. The function under test is not patched.
"""

from __future__ import annotations

import http.client
import os
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lambda_fn.capture.processes import find_processes, kill_processes
from lambda_fn.local.context import LocalContext
from lambda_fn.local.emulator import LocalAws
from tests.functional.conftest import HandlerFactory, load_event
from tests.pages import RICH_PAGE, Handler, PageServer
from tests.stored import assert_nothing_lost, published

S3_ERRORS = {
    "slow_down": (503, "SlowDown", "Please reduce your request rate."),
    "internal_error": (500, "InternalError", "We encountered an internal error."),
}
# Request headers about this hop only, not passed on to the emulator.
HOP_HEADERS = frozenset({"connection", "keep-alive", "expect", "transfer-encoding"})
STALL_S = 4.0  # longer than the S3 client's read timeout (storage.CLIENT_CONFIG)


class S3FaultProxy(ThreadingHTTPServer):
    """Relays requests to the emulator; the first ``times`` object PUTs (every one when ``times``
    is None) get ``fault`` instead. ``puts`` records what each object PUT got."""

    daemon_threads = True

    def __init__(self, upstream: str, fault: str, times: int | None) -> None:
        super().__init__(("127.0.0.1", 0), _Relay)
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.fault = fault
        self.times = times
        self.puts: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def action_for(self, method: str) -> str:
        if method != "PUT":
            return "forward"
        with self._lock:
            faulty = self.times is None or len(self.puts) < self.times
            action = self.fault if faulty else "forward"
            self.puts.append(action)
            return action

    def forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=10)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            connection.endheaders(body)
            response = connection.getresponse()
            payload = response.read()
            return response.status, response.getheaders(), payload
        finally:
            connection.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # connections this proxy resets on purpose end in errors

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)


class _Relay(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and ``Expect: 100-continue``, as botocore uses
    server: S3FaultProxy

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        action = self.server.action_for(self.command)
        if action == "reset":
            self._reset()
        elif action == "stall":
            time.sleep(STALL_S)
            self._reset()
        elif action in S3_ERRORS:
            self._s3_error(*S3_ERRORS[action])
        else:
            status, headers, payload = self.server.forward(
                self.command, self.path, self._headers(), body
            )
            if action == "lost_response":
                self._reset()  # stored upstream; the answer never arrives
            else:
                self._answer(status, headers, payload)

    do_GET = do_HEAD = do_POST = do_DELETE = do_PUT

    def _headers(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_HEADERS]

    def _answer(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_HEADERS | {"content-length", "date", "server"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _s3_error(self, status: int, code: str, message: str) -> None:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>FAULT</RequestId></Error>"
        ).encode()
        self._answer(status, [("Content-Type", "application/xml")], body)

    def _reset(self) -> None:
        # SO_LINGER 0: close() sends RST, as a dropped connection does.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        return


FaultFactory = Callable[[str, int | None], S3FaultProxy]


@pytest.fixture
def s3_fault(aws: LocalAws) -> Iterator[FaultFactory]:
    """Starts S3 fault proxies in front of the emulator; stops them all afterwards."""
    started: list[S3FaultProxy] = []

    def start(fault: str, times: int | None) -> S3FaultProxy:
        proxy = S3FaultProxy(aws.endpoint, fault, times)
        proxy.start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def invoke(module: Any, event: Any) -> dict[str, Any]:
    result: dict[str, Any] = module.handler(event, LocalContext())
    return result


# --- S3 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "times", "status", "reason"),
    [
        ("slow_down", 1, "captured", None),
        ("slow_down", None, "failed", "upload_failed"),
        ("internal_error", 1, "captured", None),
        ("internal_error", None, "failed", "upload_failed"),
        ("reset", 1, "captured", None),
        ("reset", None, "failed", "upload_failed"),
        ("stall", 1, "captured", None),
        # Stored by S3, the answer lost: the retry's identical bytes meet the write-once guard.
        ("lost_response", 1, "captured", None),
    ],
)
def test_s3_fault_on_upload_is_retried_once_and_loses_nothing(
    load_handler: HandlerFactory,
    aws: LocalAws,
    pages: PageServer,
    s3_fault: FaultFactory,
    fault: str,
    times: int | None,
    status: str,
    reason: str | None,
) -> None:
    proxy = s3_fault(fault, times)
    module = load_handler(AWS_ENDPOINT_URL_S3=proxy.url)
    result = invoke(module, load_event("direct.json", preview_url=pages.page("/", RICH_PAGE)))
    assert (result["status"], result["reason"], result["attempts"]) == (status, reason, 2)
    # Once the PNG's retry is stored, its thumbnail and record follow.
    stored = [fault, "forward", "forward", "forward"]
    assert proxy.puts == (stored if times == 1 else [fault, fault])
    assert pages.hits["/"] == 2  # a fresh browser and screenshot for the second attempt
    assert_nothing_lost(aws, [result])
    assert published(aws) == [result]


def test_s3_answers_after_a_failed_stage_and_the_next_stage_is_stored(
    load_handler: HandlerFactory,
    aws: LocalAws,
    pages: PageServer,
    s3_fault: FaultFactory,
) -> None:
    proxy = s3_fault("slow_down", 2)
    module = load_handler(AWS_ENDPOINT_URL_S3=proxy.url)
    url = pages.page("/", RICH_PAGE)
    results = [
        invoke(module, load_event("direct.json", stage=stage, preview_url=url))
        for stage in ("checks", "ready")
    ]
    assert [(r["status"], r["reason"]) for r in results] == [
        ("failed", "upload_failed"),
        ("captured", None),
    ]
    assert_nothing_lost(aws, results)


# --- DynamoDB and EventBridge ---------------------------------------------------------------------


def test_unreachable_state_table_still_captures_and_stores_once(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler(AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:9")
    good = invoke(module, load_event("direct.json", preview_url=pages.page("/", RICH_PAGE)))
    broken = pages.page("/gone", b"<h1>gone</h1>", status=404)
    bad = invoke(module, load_event("direct.json", stage="checks", preview_url=broken))
    assert (good["status"], good["reason"], good["attempts"]) == ("captured", None, 1)
    assert (bad["status"], bad["reason"], bad["attempts"]) == ("failed", "http_404", 1)
    assert_nothing_lost(aws, [good, bad])
    assert published(aws) == [good, bad]
    assert aws.client("dynamodb").scan(TableName=aws.table)["Items"] == []  # never reached


def test_unreachable_result_bus_still_captures_and_stores(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    # botocore's variable is named for the service id, EventBridge (not the endpoint prefix).
    module = load_handler(AWS_ENDPOINT_URL_EVENTBRIDGE="http://127.0.0.1:9")
    started = time.monotonic()
    result = invoke(module, load_event("direct.json", preview_url=pages.page("/", RICH_PAGE)))
    assert (result["status"], result["reason"], result["attempts"]) == ("captured", None, 1)
    assert time.monotonic() - started < 10
    assert_nothing_lost(aws, [result])
    assert published(aws) == []


# --- Chromium killed ------------------------------------------------------------------------------


class BrowserKiller:
    """A route the page requests mid-capture: the first ``times`` requests kill every Chromium
    process of the session (found by its profile directory) instead of answering."""

    def __init__(self, marker: str, times: int | None) -> None:
        self.marker = marker
        self.times = times
        self.kills = 0

    def __call__(self, handler: Handler) -> None:
        if self.times is None or self.kills < self.times:
            self.kills += 1
            kill_processes(find_processes(self.marker))
            return  # no answer: the browser that asked is gone
        handler.reply(b"<svg xmlns='http://www.w3.org/2000/svg'/>", content_type="image/svg+xml")


KILLED_PAGE = RICH_PAGE.replace(b"</body>", b"<img src='/signal.svg'></body>")


@pytest.mark.parametrize(
    ("times", "status", "reason"),
    [(1, "captured", None), (None, "failed", "browser_crashed")],
)
def test_chromium_killed_mid_capture_is_retried_in_a_fresh_browser(
    load_handler: HandlerFactory,
    aws: LocalAws,
    pages: PageServer,
    private_tempdir: Path,
    times: int | None,
    status: str,
    reason: str | None,
) -> None:
    killer = BrowserKiller(str(private_tempdir), times)
    pages.routes["/signal.svg"] = killer
    module = load_handler()
    result = invoke(module, load_event("direct.json", preview_url=pages.page("/", KILLED_PAGE)))
    assert (result["status"], result["reason"], result["attempts"]) == (status, reason, 2)
    assert killer.kills == (1 if times == 1 else 2)
    assert module.SERVICE.chromium.launches == 2
    killer.times = killer.kills  # no more kills: the warm environment must still work
    later = invoke(module, load_event("direct.json", stage="checks", preview_url=pages.url("/")))
    assert later["status"] == "captured"
    assert_nothing_lost(aws, [result, later])
    assert published(aws) == [result, later]


# --- /tmp full ------------------------------------------------------------------------------------


@pytest.fixture
def small_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, list[Path]]]:
    """A 1 MiB tmpfs of 64 inodes as the function's temp dir (``TMPDIR`` and ``tempfile``);
    the test fills it. Unmounted afterwards. Yields the mount and the files the test adds."""
    mount = tmp_path / "tmp"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=64,mode=1777", "tmpfs", str(mount)],
        check=True,
    )
    fillers: list[Path] = []
    try:
        monkeypatch.setenv("TMPDIR", str(mount))
        monkeypatch.setattr(tempfile, "tempdir", str(mount))
        yield mount, fillers
    finally:
        kill_processes(find_processes(str(mount)))
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def fill_blocks(mount: Path, fillers: list[Path], leave_bytes: int) -> None:
    stats = os.statvfs(mount)
    filler = mount / "blocks"
    filler.write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - leave_bytes))
    fillers.append(filler)


def fill_inodes(mount: Path, fillers: list[Path]) -> None:
    with pytest.raises(OSError, match="No space left"):  # noqa: PT012 - filled until refused
        for index in range(1000):
            filler = mount / f"inode-{index}"
            filler.touch()
            fillers.append(filler)


def test_nearly_full_tmp_still_captures_and_leaves_nothing_in_it(
    small_tmp: tuple[Path, list[Path]],
    load_handler: HandlerFactory,
    aws: LocalAws,
    pages: PageServer,
) -> None:
    mount, fillers = small_tmp
    fill_blocks(mount, fillers, leave_bytes=16 * 1024)
    module = load_handler()
    result = invoke(module, load_event("direct.json", preview_url=pages.page("/", RICH_PAGE)))
    assert (result["status"], result["reason"], result["attempts"]) == ("captured", None, 1)
    assert_nothing_lost(aws, [result])
    assert sorted(mount.iterdir()) == sorted(fillers)
    assert find_processes(str(mount)) == []


def test_full_tmp_fails_the_capture_without_raising_or_storing(
    small_tmp: tuple[Path, list[Path]],
    load_handler: HandlerFactory,
    aws: LocalAws,
    pages: PageServer,
) -> None:
    mount, fillers = small_tmp
    module = load_handler()  # the driver starts with room to spare, then /tmp fills up
    fill_blocks(mount, fillers, leave_bytes=0)
    fill_inodes(mount, fillers)
    result = invoke(module, load_event("direct.json", preview_url=pages.page("/", RICH_PAGE)))
    assert (result["status"], result["reason"], result["attempts"]) == (
        "failed",
        "launch_failed",
        1,
    )
    assert pages.hits["/"] == 0
    assert_nothing_lost(aws, [result])
    assert published(aws) == [result]
    for filler in fillers:
        filler.unlink()
    recovered = invoke(
        module, load_event("direct.json", stage="checks", preview_url=pages.url("/"))
    )
    assert recovered["status"] == "captured"
    assert_nothing_lost(aws, [result, recovered])
