"""Warm real framework servers (Vite, Next.js dev and production, SvelteKit), captured by the
service: each server kind is started once for this module (conftest.py) and has compiled its pages.

Completeness is read from the PNG: the bed's page paints its marker colours only once its data
(or its lazily loaded chart) has rendered. The service's own verdict is checked beside it, never
instead of it.
"""

from __future__ import annotations

import hashlib

import pytest

from tests.frameworks.bed import (
    SVELTEKIT_DEV,
    AppServer,
    assert_loaded,
    shoot,
    shows_chart,
    shows_loaded_page,
)


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
