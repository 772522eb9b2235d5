"""Readiness's rule with a scripted page: what counts as pending, when waiting ends, and what an
unsettled page reports. The real framework pages are in tests/frameworks."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from lambda_fn.capture.readiness import (
    BUSY_POLL_S,
    PAINTED,
    PROBE,
    QUIET_MS,
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
    """Answers PROBE with the next scripted probe (the last one forever), counts PAINTED and the
    probes that ran the timers (told the page was idle while timers were due); once the timers
    have run, the page renders (changes, then is quiet)."""

    def __init__(self, probes: list[dict[str, Any]]) -> None:
        self.probes: Iterator[dict[str, Any]] = iter(probes)
        self.last = probes[-1]
        self.probed = 0
        self.painted = 0
        self.timers_run = 0

    async def evaluate(self, script: str, idle: bool | None = None) -> dict[str, Any] | None:
        if script == PAINTED:
            self.painted += 1
            return None
        assert script == PROBE
        assert idle is not None
        self.probed += 1
        self.last = next(self.probes, self.last)
        if idle and self.last["timers"] and not self.last["overlay"]:
            self.timers_run += 1
            self.probes = iter([probe(quietMs=0.0), probe()])
        return self.last


class Network:
    """The tracker's part readiness reads: the requests in flight, and a wait for their end."""

    def __init__(self, *requests: str) -> None:
        self.in_flight = set(requests)
        self.waits = 0
        self._ended = asyncio.Event()

    def finish(self) -> None:
        self.in_flight.clear()
        self._ended.set()

    async def wait_idle(self, timeout_s: float) -> None:
        self.waits += 1
        if self.in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended.wait(), timeout_s)


def idle_network() -> Network:
    return Network()


class ChangedPage(ScriptedPage):
    """A page whose DOM last changed when it was made."""

    def __init__(self) -> None:
        super().__init__([probe()])
        self.changed = time.monotonic()

    async def evaluate(self, script: str, idle: bool | None = None) -> dict[str, Any] | None:
        self.probes = iter([probe(quietMs=(time.monotonic() - self.changed) * 1000)])
        return await super().evaluate(script, idle)


def test_quiet_period_is_slept_out_not_polled() -> None:
    page = ChangedPage()
    readiness = wait(page)
    assert readiness.settled
    assert time.monotonic() - page.changed >= QUIET_MS / 1000
    assert page.probed == 2  # the change, then the end of the quiet period


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
    network = Network("GET /api/orders")
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
        await asyncio.sleep(0.5)
        assert not waiting.done()
        network.finish()
        cleared = time.monotonic()
        readiness = await waiting
        assert time.monotonic() - cleared < BUSY_POLL_S / 2  # looked at again when they ended
        return readiness

    readiness = asyncio.run(answer_later())
    assert readiness.settled
    # Not polled all along: the busy page is looked at when its requests end, or now and then.
    assert page.probed <= 0.5 / BUSY_POLL_S + 2
    assert network.waits >= 2


def test_page_still_loading_at_the_deadline_says_what_it_waited_for() -> None:
    page = ScriptedPage([probe(indicator="text:Loading orders…", timers=1)])
    readiness = wait(page, network=Network("GET /api/orders"), budget_s=0.3)
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
    readiness = wait(page, network=Network("GET /hmr"))
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
        (Network("GET /api/orders"), idle_document()),  # a timeout, maybe
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
