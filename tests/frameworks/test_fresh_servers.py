"""Real framework servers started for one test: cold (caches cleared), serving a compile error, or
listening only after the capture has begun.

This module starts no server while another serves the same app: Vite refuses a second dev
process for one project, and a cold start clears caches a running server uses. The warm servers
of test_warm_servers.py are stopped when that module ends.
"""

from __future__ import annotations

import threading

import pytest

from tests.frameworks.bed import (
    NEXT_DEV,
    SERVERS,
    SVELTEKIT_DEV,
    VITE_DEV,
    AppServer,
    ServerKind,
    assert_loaded,
    running,
    shoot,
    shows_loaded_page,
)

LATE_START_S = 1.5


@pytest.mark.parametrize(
    ("kind", "path", "reason", "attempts"),
    [
        # Vite serves the page and draws its overlay over it: an error screen, retried once
        # after the blank delay in case the server was mid-rebuild.
        (VITE_DEV, "/?broken", "app_error:build", 2),
        # Next and SvelteKit answer a route that does not compile with HTTP 500: a server
        # error, not retried (only gateway errors are).
        (NEXT_DEV, "/broken", "http_500", 1),
        (SVELTEKIT_DEV, "/broken", "http_500", 1),
    ],
    ids=["vite-dev", "next-dev", "sveltekit-dev"],
)
def test_compile_error_is_not_captured(
    kind: ServerKind, path: str, reason: str, attempts: int
) -> None:
    with running(kind) as server:
        server.warm([path])  # compiled once: a busy machine's first compile can take the budget
        outcome = shoot(server.url(path))
    result = outcome.result
    assert result.status == "failed", result
    assert result.reason == reason, result
    assert result.snapshot_url is None
    assert result.attempts == attempts, result
    assert [entry.reason for entry in result.attempt_log] == [reason] * attempts
    assert outcome.png is None or not shows_loaded_page(outcome.png)


@pytest.mark.parametrize("kind", SERVERS, ids=lambda kind: kind.name)
def test_cold_server_is_captured_once_its_data_rendered(kind: ServerKind) -> None:
    with running(kind, cold=True) as server:
        assert_loaded(shoot(server.url("/")))


def test_server_that_starts_listening_late_is_captured() -> None:
    server = AppServer(VITE_DEV)
    late = threading.Timer(LATE_START_S, server.start, kwargs={"wait": False})
    late.start()
    try:
        outcome = shoot(server.url("/"))
    finally:
        late.join()
        server.stop()
    assert_loaded(outcome)
    assert outcome.result.attempts == 1, outcome.result
