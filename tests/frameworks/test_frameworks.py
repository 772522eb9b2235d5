"""Real framework servers (Vite, Next.js dev and production, SvelteKit), captured by the service.

Completeness is read from the PNG: the bed's page paints its marker colours only once its data
(or its lazily loaded chart) has rendered. The service's own verdict is checked beside it, never
instead of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading

import pytest

from lambda_fn.__main__ import shoot_url
from lambda_fn.capture import Outcome
from lambda_fn.config import Settings
from tests.frameworks.bed import (
    NEXT_DEV,
    NEXT_START,
    SVELTEKIT_DEV,
    VITE_DEV,
    AppServer,
    ServerKind,
    running,
    shows_chart,
    shows_loaded_page,
)

LOCAL = Settings.from_env({"ALLOW_PRIVATE_URLS": "true"})
DEV_SERVERS = (VITE_DEV, NEXT_DEV, SVELTEKIT_DEV)


def shoot(url: str) -> Outcome:
    return asyncio.run(shoot_url(url, LOCAL))


def assert_loaded(outcome: Outcome) -> None:
    assert outcome.png is not None, outcome.result
    assert shows_loaded_page(outcome.png), outcome.result
    assert outcome.result.status == "captured", outcome.result
    assert outcome.result.page is not None
    assert outcome.result.page.settled, outcome.result.page


@pytest.mark.parametrize("delay_ms", [300, 1500])
def test_dashboard_is_captured_once_its_data_rendered(
    warm_server: AppServer, delay_ms: int
) -> None:
    assert_loaded(shoot(warm_server.url(f"/?delay={delay_ms}")))


def test_lazily_loaded_chart_is_in_the_capture(warm_server: AppServer) -> None:
    outcome = shoot(warm_server.url("/?chart"))
    assert outcome.png is not None
    assert shows_chart(outcome.png), outcome.result
    assert_loaded(outcome)


def test_settled_page_gives_the_same_bytes_twice(warm_server: AppServer) -> None:
    first, second = shoot(warm_server.url("/")), shoot(warm_server.url("/"))
    assert first.png is not None
    assert second.png is not None
    assert shows_loaded_page(first.png)
    assert hashlib.sha256(first.png).digest() == hashlib.sha256(second.png).digest()


def test_crash_after_the_data_is_not_captured(warm_server: AppServer) -> None:
    result = shoot(warm_server.url("/?crash")).result
    assert result.page is not None
    if warm_server.kind is SVELTEKIT_DEV:  # Svelte keeps the rendered page: a person sees it
        assert result.status == "captured", result
        assert any("Orders feed broke" in error for error in result.page.errors), result.page
        return
    assert result.status == "failed", result
    assert result.reason == "app_error:runtime", result
    assert result.snapshot_url is None
    assert result.page is not None
    assert any("Orders feed broke" in error for error in result.page.errors), result.page


@pytest.mark.parametrize(
    ("kind", "path"),
    [(VITE_DEV, "/?broken"), (NEXT_DEV, "/broken"), (SVELTEKIT_DEV, "/broken")],
    ids=["vite-dev", "next-dev", "sveltekit-dev"],
)
def test_compile_error_is_not_captured(kind: ServerKind, path: str) -> None:
    with running(kind) as server:
        result = shoot(server.url(path)).result
    assert result.status == "failed", result
    # Next and SvelteKit answer a broken route with HTTP 500; Vite serves the page and its overlay.
    assert result.reason in {"app_error:build", "http_500"}, result
    assert result.attempts == 2


@pytest.mark.parametrize("kind", [*DEV_SERVERS, NEXT_START], ids=lambda kind: kind.name)
def test_cold_server_is_captured_once_its_data_rendered(kind: ServerKind) -> None:
    with running(kind, cold=True) as server:
        assert_loaded(shoot(server.url("/")))


def test_server_that_starts_listening_late_is_captured() -> None:
    server = AppServer(VITE_DEV)
    late = threading.Timer(1.5, server.start, kwargs={"wait": False})
    late.start()
    try:
        outcome = shoot(server.url("/"))
    finally:
        late.join()
        server.stop()
    assert_loaded(outcome)
