"""Deciding when a page is ready to capture: when it shows what a person waits for.

After the document's ``load`` (or a bounded wait for it), the page is *settled* when it shows
content (visible text or media), no loading indicator is visible (see ``LOADING``), no request is
in flight (however long a dev server takes to compile it), no timer it scheduled is due within
``TIMER_HORIZON_MS`` (simulated latency: ``setTimeout(render, 500)``), no navigation of the main
frame is under way, and its DOM has been quiet for ``QUIET_MS``. Those conditions are waited for
until the readiness deadline the caller sets (inside the attempt's budget), or until a framework's
error screen shows (``screens.ERROR_SCREEN``, which also tells what it says); a page that has met
all of them but keeps changing its DOM (a ticking clock) is taken after ``SETTLE_MAX_MS``; one that
still shows nothing after ``EMPTY_MAX_MS`` with nothing pending is taken as it is (the blank
judgement decides). A deadline reached first is reported: ``Readiness.settled`` false, and what
was still pending. Then web fonts must be ready and two animation frames must pass so the last
DOM change is painted.

Short timers are not waited out in real time: when no request is in flight and no navigation is
under way (a timer may be a request's timeout), the probe fires them at once, in the order they
were due, as the page would have seen them fire (``__previewRunTimers``). Only those timers are
hurried: time itself (``Date``, ``performance.now``, animation frames, CSS animations) runs as it
does, so the frames painted before the PNG are real ones. Measured against waiting and against
Playwright's clock API (which fakes time for the whole page): docs/performance.md, readiness.

The page is looked at (``PROBE``, which takes its main thread) only when a look can decide
something: while requests are in flight, when the last one ends (or every ``BUSY_POLL_S``); once
the DOM has changed, when the quiet period would end; otherwise every ``POLL_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Frame, Page, Request, Response

from lambda_fn.capture.screens import ERROR_SCREEN

QUIET_MS = 100
SETTLE_MAX_MS = 1500
EMPTY_MAX_MS = 2000
POLL_S = 0.025
# While requests are in flight nothing can be decided: the page is looked at again when the last
# one ends, or after this long (an error overlay may show meanwhile).
BUSY_POLL_S = 0.2
# Long-lived channels never finish; they must not hold the page open.
IGNORED_RESOURCE_TYPES = frozenset({"websocket", "eventsource", "manifest", "other"})

# Installed before any page script: remembers when the DOM last changed, and which short timers
# the page has scheduled. A timer scheduled by a timer callback inherits its chain; past
# MAX_TIMER_CHAIN links it is polling, not latency, and is not waited for.
PAGE_CLOCKS = """
(() => {
  const HORIZON_MS = 3000, MAX_TIMER_CHAIN = 3;
  const clock = { last: performance.now() };
  const timers = new Map();  // id -> { due, run } of the short timers still to fire
  Object.defineProperty(window, "__previewMutationClock", { value: clock });
  Object.defineProperty(window, "__previewTimers", { value: timers });
  new MutationObserver(() => { clock.last = performance.now(); }).observe(
    document, { subtree: true, childList: true, attributes: true, characterData: true });
  const schedule = window.setTimeout, cancel = window.clearTimeout;
  let chain = 0;
  window.setTimeout = function (handler, delay, ...args) {
    if (typeof handler !== "function") return schedule.call(this, handler, delay, ...args);
    const link = chain + 1, ms = Math.max(0, Number(delay) || 0);
    const run = function () {
      timers.delete(id);
      const outer = chain;
      chain = link;
      try { return handler.apply(this, args); } finally { chain = outer; }
    };
    const id = schedule.call(this, run, delay);
    const due = performance.now() + ms;
    if (ms <= HORIZON_MS && link <= MAX_TIMER_CHAIN) timers.set(id, { due, run });
    return id;
  };
  window.clearTimeout = function (id) { timers.delete(id); return cancel.call(this, id); };
  // Fires the short timers now, in the order they were due, as if their time had passed; an
  // exception is reported as the page's own (uncaught), as the timer would have.
  Object.defineProperty(window, "__previewRunTimers", { value: () => {
    const due = [...timers.entries()].sort((a, b) => a[1].due - b[1].due);
    for (const [id, timer] of due) {
      if (!timers.has(id)) continue;  // cleared by an earlier callback
      cancel.call(window, id);
      try { timer.run.call(window); } catch (error) { reportError(error); }
    }
    return due.length;
  } });
})();
"""

# What the page shows that a person would wait out: loading text, busy or indeterminate progress
# elements, skeleton/shimmer/spinner classes; open shadow roots included (dev servers' own
# "Compiling" indicators live there). A bounded walk: a huge page must not eat the budget here.
# A JS function expression (the first indicator shown, or null), also the blank judgement's
# negative evidence (dom.py).
FIND_LOADING_INDICATOR = """
() => {
  const LIMIT = 4000;
  const TEXT = /^(loading|compiling|rendering|fetching|please wait)\\b/i;
  const CLASS = /(^|[\\s_-])(skeleton|shimmer|spinner|loader|loading)([\\s_-]|$)/i;
  const shown = (element) => {
    const box = element.getBoundingClientRect();
    if (box.width <= 0 || box.height <= 0) return false;
    if (box.bottom <= 0 || box.top >= innerHeight) return false;
    const style = getComputedStyle(element);
    return style.visibility !== "hidden" && style.opacity !== "0";
  };
  const loading = (element) => {
    if (element.getAttribute("aria-busy") === "true") return "aria-busy";
    const progress = element.localName === "progress";
    const indeterminate = !element.hasAttribute(progress ? "value" : "aria-valuenow");
    if ((element.getAttribute("role") === "progressbar" || progress) && indeterminate) {
      return "progressbar";
    }
    if (CLASS.test(element.getAttribute("class") || "")) return "class:" + CLASS.exec(
      element.getAttribute("class"))[2].toLowerCase();
    for (const node of element.childNodes) {
      const text = node.nodeType === 3 ? node.data.trim() : "";
      if (text.length && text.length <= 60 && TEXT.test(text)) return "text:" + text;
    }
    return null;
  };
  let seen = 0, indicator = null;
  const walk = (root) => {
    for (const element of root.querySelectorAll("*")) {
      if (indicator || ++seen > LIMIT) return;
      const found = loading(element);
      if (found && shown(element)) indicator = found;
      else if (element.shadowRoot) walk(element.shadowRoot);
    }
  };
  if (document.body) walk(document);
  return indicator;
}
"""

PROBE = (
    """
(idle) => {
  const findIndicator = """
    + FIND_LOADING_INDICATOR
    + """;
  const findErrorScreen = """
    + ERROR_SCREEN
    + """;
  // A framework's error screen is a final state: nothing behind it is worth waiting for.
  const overlay = findErrorScreen() !== null;
  const clock = window.__previewMutationClock, timers = window.__previewTimers;
  const body = document.body;
  const indicator = findIndicator();
  const media = body && body.querySelector("img, svg, canvas, video, picture, iframe");
  const text = body ? body.innerText.trim().length : 0;
  const due = timers ? timers.size : 0;
  // Nothing else pending (``idle``): the short timers' time passes now, after this look.
  if (idle && due && !overlay) window.__previewRunTimers();
  return { quietMs: clock ? performance.now() - clock.last : 1e9, content: text > 0 || !!media,
           timers: due, indicator, overlay };
}
"""
)

PAINTED = """
async () => {
  let timer;
  await Promise.race([document.fonts.ready, new Promise((r) => { timer = setTimeout(r, 1000); })]);
  clearTimeout(timer);
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
}
"""


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether the page settled before the deadline, and else what it was still waiting for."""

    settled: bool
    waiting_for: tuple[str, ...] = ()


class NetworkTracker:
    """Counts the page's in-flight requests, from Playwright's request events."""

    def __init__(self, page: Page) -> None:
        self.in_flight: set[Request] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    async def wait_idle(self, timeout_s: float) -> None:
        """Return once no request is in flight, or after ``timeout_s``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()

    def _started(self, request: Request) -> None:
        if request.resource_type not in IGNORED_RESOURCE_TYPES:
            self.in_flight.add(request)
            self._idle.clear()

    def _ended(self, request: Request) -> None:
        self.in_flight.discard(request)
        if not self.in_flight:
            self._idle.set()


class MainDocument:
    """The main frame's document: the answer that brought it (the first navigation's, or the
    latest one the page started itself; a response counts once its document commits), and
    whether a navigation is under way that will replace it."""

    def __init__(self, page: Page) -> None:
        self.response: Response | None = None
        self.commits = 0  # main-frame navigations since the capture started
        self.navigation: Request | None = None  # started, neither committed nor abandoned
        self._idle = asyncio.Event()
        self._idle.set()
        self._main = page.main_frame
        self._latest: Response | None = None
        page.on("request", self._requested)
        page.on("requestfailed", self._abandoned)
        page.on("response", self._answered)
        page.on("framenavigated", self._committed)

    async def replaced_since(self, commits: int, grace_s: float) -> bool:
        """Whether a document replaced the one of ``commits``, waiting up to ``grace_s`` for a
        navigation under way to commit."""
        if self.navigation is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace_s):
                    await self._idle.wait()
        return self.commits != commits

    def _requested(self, request: Request) -> None:
        if request.is_navigation_request() and request.frame == self._main:
            self._navigating(request)

    def _abandoned(self, request: Request) -> None:
        # Also what Chromium makes of a 204 answer or a download: the current document stays.
        if request is self.navigation:
            self._navigating(None)

    def _navigating(self, request: Request | None) -> None:
        self.navigation = request
        if request is None:
            self._idle.set()
        else:
            self._idle.clear()

    def _answered(self, response: Response) -> None:
        if response.request.is_navigation_request() and response.frame == self._main:
            self._latest = response

    def _committed(self, frame: Frame) -> None:
        # Without a navigation request under way it is the history API (pushState, a fragment):
        # the same document stays.
        if frame == self._main and (self.navigation is not None or not self.commits):
            self.response = self._latest
            self.commits += 1
            self._navigating(None)


def pending(probe: dict[str, Any], network: NetworkTracker, document: MainDocument) -> list[str]:
    """What a person would still wait for, by the page's latest probe."""
    waiting = []
    if probe["indicator"]:
        waiting.append(f"loading_indicator:{probe['indicator'][:80]}")
    if network.in_flight:
        waiting.append("requests_in_flight")
    if probe["timers"]:
        waiting.append("timers_pending")
    if document.navigation is not None:
        waiting.append("navigation")
    return waiting


async def wait_until_ready(
    page: Page, network: NetworkTracker, document: MainDocument, *, deadline: float
) -> Readiness:
    """Return once the page is ready to capture or ``deadline`` (``time.monotonic``) has come
    (see the module docstring for the rule)."""
    started = time.monotonic()
    busy_since = started  # when the page last had something pending
    while True:
        # Nothing else to wait for: the probe runs the short timers (their time passes now).
        idle = not network.in_flight and document.navigation is None
        probe: dict[str, Any] = await page.evaluate(PROBE, idle)
        now = time.monotonic()
        waiting = pending(probe, network, document)
        if probe["overlay"]:
            break
        if waiting:
            busy_since = now
        elif probe["content"]:
            if probe["quietMs"] >= QUIET_MS or (now - busy_since) * 1000 >= SETTLE_MAX_MS:
                break
        elif (now - started) * 1000 >= EMPTY_MAX_MS:
            break
        if now >= deadline:
            if not probe["content"]:
                waiting.append("content")
            await page.evaluate(PAINTED)
            return Readiness(settled=False, waiting_for=tuple(waiting or ["dom_changing"]))
        await _until_worth_looking(probe, waiting, network, document, deadline - now)
    await page.evaluate(PAINTED)
    return Readiness(settled=True)


async def _until_worth_looking(
    probe: dict[str, Any],
    waiting: list[str],
    network: NetworkTracker,
    document: MainDocument,
    left_s: float,
) -> None:
    """Wait until the next look can decide something: the last request's end (each look takes
    the busy page's main thread), the end of the quiet period, else the polling interval."""
    if network.in_flight and document.navigation is None:
        await network.wait_idle(min(BUSY_POLL_S, left_s))
    elif not waiting and probe["content"] and probe["quietMs"] < QUIET_MS:
        await asyncio.sleep(min((QUIET_MS - probe["quietMs"]) / 1000, left_s))
    else:
        await asyncio.sleep(min(POLL_S, left_s))
