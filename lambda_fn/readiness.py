"""Deciding when a page is ready to capture, without ``networkidle`` and without a fixed sleep.

After the document's ``load`` (or a bounded wait for it), the page is ready when it shows content
(visible text or media), its DOM and its network have been quiet for ``QUIET_MS``, and no
navigation of the main frame is under way. A page
that still shows nothing gets up to ``EMPTY_MAX_MS`` to render (client-side apps fill in after
``load``); a page that never goes quiet (polling, HMR) is taken after ``SETTLE_MAX_MS``. Then web
fonts must be ready and two animation frames must pass so the last DOM change is painted.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from playwright.async_api import Frame, Page, Request, Response

QUIET_MS = 100
SETTLE_MAX_MS = 1500
EMPTY_MAX_MS = 2000
POLL_S = 0.025
# Long-lived channels never finish; they must not hold the quiet period open.
IGNORED_RESOURCE_TYPES = frozenset({"websocket", "eventsource", "manifest", "other"})

# Installed before any page script: remembers when the DOM last changed.
MUTATION_CLOCK = """
(() => {
  const clock = { last: performance.now() };
  Object.defineProperty(window, "__previewMutationClock", { value: clock });
  new MutationObserver(() => { clock.last = performance.now(); }).observe(
    document, { subtree: true, childList: true, attributes: true, characterData: true });
})();
"""

PROBE = """
() => {
  const clock = window.__previewMutationClock;
  const body = document.body;
  const media = body && body.querySelector("img, svg, canvas, video, picture, iframe");
  const text = body ? body.innerText.trim().length : 0;
  return { quietMs: clock ? performance.now() - clock.last : 1e9, content: text > 0 || !!media };
}
"""

PAINTED = """
async () => {
  await Promise.race([document.fonts.ready, new Promise((r) => setTimeout(r, 1000))]);
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
}
"""


class NetworkTracker:
    """Counts the page's in-flight requests, from Playwright's request events."""

    def __init__(self, page: Page) -> None:
        self.in_flight: set[Request] = set()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _started(self, request: Request) -> None:
        if request.resource_type not in IGNORED_RESOURCE_TYPES:
            self.in_flight.add(request)

    def _ended(self, request: Request) -> None:
        self.in_flight.discard(request)


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
        if frame == self._main:
            self.response = self._latest
            self.commits += 1
            self._navigating(None)


async def wait_until_ready(page: Page, network: NetworkTracker, document: MainDocument) -> None:
    """Return once the page is ready to capture (see the module docstring for the rule)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        probe: dict[str, Any] = await page.evaluate(PROBE)
        waited_ms = (loop.time() - started) * 1000
        quiet = (
            probe["quietMs"] >= QUIET_MS and not network.in_flight and document.navigation is None
        )
        if probe["content"] and (quiet or waited_ms >= SETTLE_MAX_MS):
            break
        if waited_ms >= EMPTY_MAX_MS:
            break
        await asyncio.sleep(POLL_S)
    await page.evaluate(PAINTED)
