"""The capture engine against real headless-shell Chromium and pages on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import threading
import time

import psutil
from PIL import Image

from lambda_fn.__main__ import shoot_url
from lambda_fn.capture.processes import find_processes
from lambda_fn.capture.stage import MAX_ATTEMPTS, TEARDOWN_RESERVE_S, Outcome
from lambda_fn.config import Settings
from tests.pages import (
    RICH_PAGE,
    WHITE_PAGE,
    Handler,
    PageServer,
    blank_until,
    fail_first,
    hang_until_stopped,
)

LOCAL = {"ALLOW_PRIVATE_URLS": "true"}
BUDGET_S = 15.0  # ATTEMPT_BUDGET_S's default


def shoot(url: str, **env: str) -> Outcome:
    return asyncio.run(shoot_url(url, Settings.from_env({**LOCAL, **env})))


def noise_on_white(noise_side: int) -> bytes:
    noise = Image.frombytes("RGB", (noise_side, noise_side), os.urandom(noise_side**2 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    return buffer.getvalue()


def test_content_rich_page_is_captured_at_exactly_1280x800(pages: PageServer) -> None:
    outcome = shoot(pages.page("/", RICH_PAGE))
    result = outcome.result
    assert result.status == "captured", result
    assert result.attempts == 1
    assert outcome.png is not None
    assert Image.open(io.BytesIO(outcome.png)).size == (1280, 800)
    assert result.judgement is not None
    assert not result.judgement.blank
    assert result.page is not None
    assert (result.page.http_status, result.page.title) == (200, "Sample app")
    assert result.dom is not None
    assert result.dom.text_length > 100
    assert {"launch", "navigation", "readiness", "screenshot", "judgement", "teardown"} <= set(
        result.timings_ms
    )


def test_white_page_is_retried_once_then_discarded_as_too_small(pages: PageServer) -> None:
    started = time.monotonic()
    result = shoot(pages.page("/", WHITE_PAGE)).result
    assert (result.status, result.reason, result.attempts) == (
        "discarded",
        "blank:file_too_small",
        2,
    )
    assert result.judgement is not None
    assert result.judgement.size_bytes < 5120
    assert result.snapshot_url is None
    assert time.monotonic() - started >= 2.0  # the blank retry waited BLANK_RETRY_DELAY_S
    assert pages.hits["/"] == 2


def test_large_but_uniform_page_is_discarded_by_the_pixel_tier(pages: PageServer) -> None:
    pages.page("/noise.png", noise_on_white(150), content_type="image/png")
    url = pages.page("/", b"<body style='margin:0;background:#fff'><img src='/noise.png'></body>")
    result = shoot(url).result
    assert (result.status, result.reason, result.attempts) == (
        "discarded",
        "blank:uniform_pixels",
        2,
    )
    assert result.judgement is not None
    assert result.judgement.size_bytes >= 5120
    assert result.judgement.uniform_fraction >= 0.95


def test_content_aware_policy_keeps_a_sparse_page_with_text(pages: PageServer) -> None:
    sparse = (
        b"<body><p>" + b"A sparse but real page with one sentence of text. " * 2 + b"</p></body>"
    )
    result = shoot(pages.page("/", sparse), BLANK_POLICY="content-aware").result
    assert result.status == "captured", result
    assert result.judgement is not None
    assert result.judgement.uniform_fraction >= 0.95
    default = shoot(pages.url("/")).result
    assert default.reason == "blank:uniform_pixels"


def test_page_rendering_600ms_after_load_is_captured_first_time(pages: PageServer) -> None:
    late = RICH_PAGE.replace(
        b"<body>",
        b"<body><script>const c=document.currentScript;"
        b"window.addEventListener('load',()=>{const h=document.body.innerHTML;"
        b"document.body.innerHTML='';setTimeout(()=>{document.body.innerHTML=h},600)})"
        b"</script>",
    )
    result = shoot(pages.page("/", late)).result
    assert (result.status, result.attempts) == ("captured", 1), result
    assert result.dom is not None
    assert result.dom.text_length > 100


def test_dev_server_still_compiling_is_captured_on_the_retry(pages: PageServer) -> None:
    pages.routes["/"] = blank_until(2.5, RICH_PAGE)
    result = shoot(pages.url("/")).result
    assert (result.status, result.attempts) == ("captured", 2), result


def test_gateway_error_once_is_captured_on_attempt_two(pages: PageServer) -> None:
    pages.routes["/"] = fail_first(1, 502, RICH_PAGE)
    result = shoot(pages.url("/")).result
    assert (result.status, result.attempts) == ("captured", 2), result


def test_server_that_never_answers_times_out_twice_within_the_budget(pages: PageServer) -> None:
    pages.routes["/"] = hang_until_stopped
    started = time.monotonic()
    result = shoot(pages.url("/")).result
    elapsed = time.monotonic() - started
    assert (result.status, result.reason, result.attempts) == ("failed", "navigation_timeout", 2)
    # Each attempt's browser is stopped TEARDOWN_RESERVE_S before the attempt's deadline; the
    # ceiling is generous (a busy machine): the worst case's figure is benchmarks/readiness.py's.
    assert MAX_ATTEMPTS * (BUDGET_S - TEARDOWN_RESERVE_S) <= elapsed < MAX_ATTEMPTS * BUDGET_S + 3


def test_not_found_fails_at_once_without_retry(pages: PageServer) -> None:
    result = shoot(pages.page("/", b"<h1>gone</h1>", status=404)).result
    assert (result.status, result.reason, result.attempts) == ("failed", "http_404", 1)
    assert pages.hits["/"] == 1


def test_page_calling_alert_on_load_is_still_captured(pages: PageServer) -> None:
    page = RICH_PAGE.replace(b"</body>", b"<script>alert('hi'); confirm('sure?')</script></body>")
    result = shoot(pages.page("/", page)).result
    assert result.status == "captured", result


def test_js_busy_loop_is_bounded_by_the_budget_and_next_capture_works(pages: PageServer) -> None:
    busy = RICH_PAGE.replace(b"</body>", b"<script>setTimeout(()=>{for(;;){}},50)</script></body>")
    started = time.monotonic()
    result = shoot(pages.page("/busy", busy)).result
    assert result.status == "failed"
    assert result.reason == "budget_exhausted"
    assert time.monotonic() - started < 15 + 5  # budget plus a bounded teardown
    assert shoot(pages.page("/", RICH_PAGE)).result.status == "captured"


def test_redirect_off_the_allowed_hosts_is_rejected(pages: PageServer) -> None:
    port = pages.server_address[1]
    pages.page("/elsewhere", RICH_PAGE)

    def redirect(handler: Handler) -> None:
        handler.send_response(302)
        handler.send_header("Location", f"http://localhost:{port}/elsewhere")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    pages.routes["/"] = redirect
    result = shoot(pages.url("/"), ALLOWED_URL_HOSTS="127.0.0.1").result
    assert (result.status, result.reason, result.attempts) == (
        "rejected",
        "url_blocked:host_not_allowed",
        1,
    )
    assert shoot(pages.url("/elsewhere"), ALLOWED_URL_HOSTS="127.0.0.1").result.status == "captured"


def test_preview_url_outside_the_allowed_hosts_is_rejected_before_any_browser(
    pages: PageServer,
) -> None:
    result = shoot(pages.page("/", RICH_PAGE), ALLOWED_URL_HOSTS="*.e2b.app").result
    assert (result.status, result.reason, result.attempts) == (
        "rejected",
        "url_blocked:host_not_allowed",
        0,
    )
    assert pages.hits["/"] == 0


def test_browser_runs_without_a_gpu_or_network_process(pages: PageServer) -> None:
    seen: list[str] = []

    def record_process_types(handler: Handler) -> None:
        for pid in find_processes("preview-chromium-"):
            cmdline = psutil.Process(pid).cmdline()
            types = [arg for arg in cmdline if arg.startswith(("--type=", "--utility-sub-type="))]
            seen.append(" ".join(types) or "browser")
        handler.reply(RICH_PAGE)

    pages.routes["/"] = record_process_types
    assert shoot(pages.url("/")).result.status == "captured"
    assert "browser" in seen
    assert any("--type=renderer" in kind for kind in seen)
    assert not [kind for kind in seen if "gpu-process" in kind or "NetworkService" in kind]


def test_server_that_starts_listening_two_seconds_late_is_captured() -> None:
    with socket.socket() as probe:  # a free port, closed: refused until the server binds it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started: list[PageServer] = []

    def listen() -> None:
        server = PageServer(port)
        server.page("/", RICH_PAGE)
        server.start()
        started.append(server)

    late = threading.Timer(2.0, listen)
    late.start()
    try:
        outcome = shoot(f"http://127.0.0.1:{port}/")
    finally:
        late.join()
        for server in started:
            server.stop()
    result = outcome.result
    assert (result.status, result.reason, result.attempts) == ("captured", None, 1), result
    assert started[0].hits["/"] == 1
    assert outcome.png is not None
    assert has_colour(outcome.png, (0xFF, 0xFF, 0xDD))  # the Stats card's background


def test_page_still_loading_when_readiness_ends_is_retried_then_kept_as_unsettled(
    pages: PageServer,
) -> None:
    forever = RICH_PAGE.replace(b"<ul>", b"<p>Loading orders&hellip;</p><ul>")
    result = shoot(pages.page("/", forever), ATTEMPT_BUDGET_S="8").result
    assert (result.status, result.attempts) == ("captured", 2), result
    assert [entry.reason for entry in result.attempt_log] == ["unsettled", None]
    assert result.page is not None
    assert not result.page.settled
    assert result.page.waiting_for == ["loading_indicator:text:Loading orders…"]
    assert pages.hits["/"] == 2


def has_colour(png: bytes, colour: tuple[int, int, int]) -> bool:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return any(count > 1000 for count, pixel in image.getcolors(1 << 24) or () if pixel == colour)
