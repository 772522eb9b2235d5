"""Readiness's rule with a scripted page: what counts as pending, when waiting ends, and what an
unsettled page reports. The real framework pages are in tests/frameworks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from lambda_fn.readiness import (
    PAINTED,
    PROBE,
    RUN_TIMERS,
    SETTLE_MAX_MS,
    Readiness,
    pending,
    wait_until_ready,
)


def probe(**changes: Any) -> dict[str, Any]:
    """A settled page's probe, with ``changes``."""
    settled = {"quietMs": 500.0, "content": True, "timers": 0, "indicator": None, "overlay": False}
    return {**settled, **changes}


class ScriptedPage:
    """Answers PROBE with the next scripted probe (the last one forever), counts PAINTED and
    RUN_TIMERS; once the timers have run, the page renders (changes, then is quiet)."""

    def __init__(self, probes: list[dict[str, Any]]) -> None:
        self.probes: Iterator[dict[str, Any]] = iter(probes)
        self.last = probes[-1]
        self.probed = 0
        self.painted = 0
        self.timers_run = 0

    async def evaluate(self, script: str) -> dict[str, Any] | None:
        if script == PAINTED:
            self.painted += 1
            return None
        if script == RUN_TIMERS:
            self.timers_run += 1
            self.probes = iter([probe(quietMs=0.0), probe()])
            return None
        assert script == PROBE
        self.probed += 1
        self.last = next(self.probes, self.last)
        return self.last


def idle_network() -> SimpleNamespace:
    return SimpleNamespace(in_flight=set())


def idle_document() -> SimpleNamespace:
    return SimpleNamespace(navigation=None)


def wait(
    page: ScriptedPage, *, network: Any = None, document: Any = None, budget_s: float = 5.0
) -> Readiness:
    deadline = time.monotonic() + budget_s
    return asyncio.run(
        wait_until_ready(
            page,
            network or idle_network(),
            document or idle_document(),
            deadline=deadline,
        )
    )


@pytest.mark.parametrize(
    ("changes", "network", "navigation", "expected"),
    [
        ({}, set(), None, []),
        ({"indicator": "text:Loading…"}, set(), None, ["loading_indicator:text:Loading…"]),
        ({"indicator": "x" * 200}, set(), None, ["loading_indicator:" + "x" * 80]),
        ({}, {"GET /api/orders"}, None, ["requests_in_flight"]),
        ({"timers": 2}, set(), None, ["timers_pending"]),
        ({}, set(), "GET /next", ["navigation"]),
        (
            {"indicator": "aria-busy", "timers": 1},
            {"GET /chunk.js"},
            "GET /",
            ["loading_indicator:aria-busy", "requests_in_flight", "timers_pending", "navigation"],
        ),
    ],
)
def test_pending_names_everything_a_person_would_wait_for(
    changes: dict[str, Any], network: set[str], navigation: str | None, expected: list[str]
) -> None:
    waiting = pending(
        probe(**changes),
        SimpleNamespace(in_flight=network),
        SimpleNamespace(navigation=navigation),
    )
    assert waiting == expected


def test_quiet_page_with_content_is_settled_at_once() -> None:
    page = ScriptedPage([probe()])
    readiness = wait(page)
    assert readiness.settled
    assert readiness.waiting_for == ()
    assert page.probed == 1
    assert page.painted == 1  # fonts and two frames, once


def test_loading_indicator_is_waited_out() -> None:
    loading = probe(indicator="class:skeleton", quietMs=0.0)
    page = ScriptedPage([loading] * 4 + [probe(quietMs=0.0), probe()])
    readiness = wait(page)
    assert readiness.settled
    assert page.probed == 6


def test_requests_in_flight_hold_the_page_until_they_end() -> None:
    network = SimpleNamespace(in_flight={"GET /api/orders"})
    page = ScriptedPage([probe()])

    async def answer_later() -> Readiness:
        waiting = asyncio.create_task(
            wait_until_ready(
                page,
                network,
                idle_document(),
                deadline=time.monotonic() + 5,
            )
        )
        await asyncio.sleep(0.3)
        assert not waiting.done()
        network.in_flight.clear()
        return await waiting

    readiness = asyncio.run(answer_later())
    assert readiness.settled
    assert page.probed > 5  # polled all along


def test_page_still_loading_at_the_deadline_says_what_it_waited_for() -> None:
    page = ScriptedPage([probe(indicator="text:Loading orders…", timers=1)])
    network = SimpleNamespace(in_flight={"GET /api/orders"})
    readiness = wait(page, network=network, budget_s=0.3)
    assert not readiness.settled
    assert readiness.waiting_for == (
        "loading_indicator:text:Loading orders…",
        "requests_in_flight",
        "timers_pending",
    )
    assert page.painted == 1


def test_empty_page_at_the_deadline_waits_for_content() -> None:
    readiness = wait(ScriptedPage([probe(content=False)]), budget_s=0.2)
    assert not readiness.settled
    assert readiness.waiting_for == ("content",)


def test_page_whose_dom_never_goes_quiet_is_reported_as_changing() -> None:
    readiness = wait(ScriptedPage([probe(quietMs=0.0)]), budget_s=0.2)
    assert not readiness.settled
    assert readiness.waiting_for == ("dom_changing",)


def test_page_that_keeps_changing_with_nothing_pending_is_taken_after_the_settle_cap() -> None:
    page = ScriptedPage([probe(quietMs=0.0)])
    started = time.monotonic()
    readiness = wait(page, budget_s=10.0)
    assert readiness.settled
    assert time.monotonic() - started >= SETTLE_MAX_MS / 1000


def test_error_overlay_ends_the_wait_whatever_is_pending() -> None:
    page = ScriptedPage([probe(overlay=True, indicator="text:Compiling", timers=3)])
    readiness = wait(page, network=SimpleNamespace(in_flight={"GET /hmr"}))
    assert readiness.settled
    assert page.probed == 1


def test_short_timers_are_run_at_once_when_nothing_else_is_pending() -> None:
    page = ScriptedPage([probe(indicator="class:skeleton", timers=1)])
    readiness = wait(page, budget_s=2.0)
    assert page.timers_run == 1
    assert readiness.settled  # the page rendered, then was quiet


@pytest.mark.parametrize(
    ("network", "document"),
    [
        (SimpleNamespace(in_flight={"GET /api/orders"}), idle_document()),  # a timeout, maybe
        (idle_network(), SimpleNamespace(navigation="GET /next")),
    ],
)
def test_timers_are_left_to_their_time_while_a_request_or_navigation_is_pending(
    network: Any, document: Any
) -> None:
    page = ScriptedPage([probe(timers=1)])
    readiness = wait(page, network=network, document=document, budget_s=0.3)
    assert page.timers_run == 0
    assert "timers_pending" in readiness.waiting_for
