"""Playwright lifecycle: one driver per process, a fresh headless-shell Chromium per capture."""

from __future__ import annotations

import asyncio
import resource
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import (
    BrowserContext,
    Dialog,
    Page,
    Playwright,
    Response,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from lambda_fn.capture.dom import read_evidence, read_title
from lambda_fn.capture.failures import classify_main_response, classify_playwright_error
from lambda_fn.capture.processes import find_processes, kill_processes, limit_memory
from lambda_fn.capture.readiness import (
    PAGE_CLOCKS,
    MainDocument,
    NetworkTracker,
    Readiness,
    wait_until_ready,
)
from lambda_fn.capture.screens import DEV_CHROME_STYLE, PageErrors, read_app_error
from lambda_fn.capture.timing import PhaseTimer
from lambda_fn.errors import CaptureError, ConfigError
from lambda_fn.events import AppError, PageInfo
from lambda_fn.network.egress import BLOCKED_HEADER, ERROR_HEADER, EgressProxy
from lambda_fn.pictures.blank import DomEvidence

VIEWPORT = {"width": 1280, "height": 800}
# The real binary first: Debian's /usr/bin/chromium-headless-shell is a `sh -e` wrapper that starts
# it as a child, one process more per capture between the driver and the browser.
EXECUTABLE_CANDIDATES = (
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/bin/chromium-headless-shell",
    "/usr/bin/chromium",
)
PLAYWRIGHT_FEATURES = ("CDPScreenshotNewSurface", "SkipListAccountsWithoutGaiaCookies")
CHROMIUM_ARGS = (
    "--no-sandbox",  # Lambda allows no user namespaces; the micro-VM is the isolation boundary
    "--no-zygote",  # no pre-forked helpers: one process tree per capture, simple to kill
    "--disable-dev-shm-usage",  # Lambda has no usable /dev/shm; shared memory goes to /tmp
    "--disable-gpu",  # no GPU in Lambda; software rasterising only
    "--disable-background-networking",  # no calls to Google's hosts (refused here, wasted there)
    "--disable-component-update",  # no component downloads at start
    "--disable-sync",  # no account sync endpoints
    "--no-first-run",  # no first-run setup work
    "--disable-breakpad",  # no crash reporter and no dumps written to a small /tmp
    "--disable-extensions",  # nothing but the page runs
    "--mute-audio",  # pages may autoplay; nobody listens
    "--hide-scrollbars",  # scrollbars are not part of the app's look
    # A tile is rastered whole, never in part: with partial raster, the pixels of a settled page
    # depended on what was painted there before (rounded corners one level apart after a skeleton
    # was replaced early or late), so one page gave two sha256 values, so two keys.
    "--disable-partial-raster",
    "--in-process-gpu",  # software compositing on a browser thread: one process (~45 MB) fewer
    # Chromium honours only the last --enable-features and Playwright passes its own first: ours
    # repeats Playwright's (1.65) and runs the network service in the browser process, one more
    # process fewer per capture (docs/performance.md: peak tree RSS down by about a third).
    "--enable-features=" + ",".join((*PLAYWRIGHT_FEATURES, "NetworkServiceInProcess2")),
)
LOAD_GRACE_MS = 5000  # after DOMContentLoaded, wait this long at most for ``load``
CLOSE_TIMEOUT_S = 1.5  # a browser that will not close in this time is killed
# Per Chromium process. A page allocating without end must crash its renderer, not grow it past
# the function's memory (2 GB): Lambda would kill the whole environment, and no result is sent.
PROCESS_MEMORY_LIMIT = 1 << 30
# What Playwright says when the page being evaluated navigated away (the document changed).
NAVIGATED_AWAY = "Execution context was destroyed"
# Installed before any page script: scripted popups open nothing (as a popup blocker answers).
# Besides sparing a renderer per popup, a popup opening while a cross-site iframe loads can keep
# Chromium from ever firing ``load`` (seen in about one load in four on a busy machine).
NO_POPUPS = """
Object.defineProperty(window, "open", { value: () => null, writable: false, configurable: false });
"""
INIT_SCRIPT = NO_POPUPS + PAGE_CLOCKS
# A screenshot racing a navigation never returns (with animations disabled): bound it, so the
# capture can follow the page to its new document.
SCREENSHOT_TIMEOUT_MS = 5000
# A navigation still under way when the PNG was taken gets this long to commit and be followed; a
# navigation that never answers leaves the page as it was, and that PNG stands.
COMMIT_GRACE_S = 2.0


@dataclass(frozen=True, slots=True)
class Shot:
    """One capture's raw material: the PNG and what the page said about itself."""

    png: bytes
    page: PageInfo
    dom: DomEvidence


@dataclass(frozen=True, slots=True)
class _Seen:
    """What the settled page showed: the PNG, its DOM facts and title, its error screen."""

    png: bytes
    dom: DomEvidence
    title: str
    readiness: Readiness
    app_error: AppError | None


def find_executable(configured: str | None) -> str:
    """``CHROMIUM_EXECUTABLE`` when set, else the first headless shell found on this system."""
    candidates = (configured,) if configured else EXECUTABLE_CANDIDATES
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    raise ConfigError(f"CHROMIUM_EXECUTABLE: no browser found at {', '.join(candidates)}")


class Chromium:
    """Keeps the Playwright driver for the process; launches and tears down a browser per shot."""

    def __init__(self, executable: str, *, temp_dir: str | None = None) -> None:
        self.executable = executable
        self.temp_dir = temp_dir
        self._playwright: Playwright | None = None
        self.launches = 0  # browsers launched by this driver, for metrics and tests
        self.version: str | None = None  # "HeadlessChrome/<version>", known after the first launch

    async def start(self) -> None:
        # Chromium and its renderers inherit this limit: no core dumps filling /tmp.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if self._playwright is None:
            self._playwright = await async_playwright().start()

    async def stop(self) -> None:
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None

    @asynccontextmanager
    async def shoot(
        self, url: str, timer: PhaseTimer, *, egress: EgressProxy | None, ready_by: float
    ) -> AsyncIterator[Shot]:
        """Capture ``url`` in a fresh browser whose every connection goes through ``egress``;
        readiness waits until ``ready_by`` (``time.monotonic``) at most.

        The caller bounds the time of entering (``asyncio.timeout``). Teardown starts once the
        PNG is taken and runs while the caller judges and stores it; leaving the block waits
        for it, so no process of this capture outlives the block.
        """
        await self.start()
        self.launches += 1
        try:
            profile = tempfile.mkdtemp(prefix="preview-chromium-", dir=self.temp_dir)
        except OSError as exc:  # /tmp full: a failed capture, not a failed invocation
            raise CaptureError(
                f"cannot create the browser profile: {exc}",
                reason="launch_failed",
                phase="launch",
                transient=False,
            ) from exc
        context: BrowserContext | None = None
        try:
            with timer.phase("launch"):
                context = await self._launch(profile, egress)
                limit_memory(find_processes(profile), PROCESS_MEMORY_LIMIT)
            shot = await capture_page(context, url, timer, ready_by=ready_by)
        except BaseException as exc:
            await _teardown(timer, context, profile)
            if isinstance(exc, PlaywrightError):
                raise classify_playwright_error(exc, timer.interrupted or "launch") from exc
            raise
        closing = asyncio.ensure_future(_teardown(timer, context, profile))
        try:
            yield shot
        finally:
            await closing

    async def _launch(self, profile: str, egress: EgressProxy | None) -> BrowserContext:
        assert self._playwright is not None
        options: dict[str, Any] = {}
        args = list(CHROMIUM_ARGS)
        if egress is not None:
            options["proxy"] = egress.playwright_proxy()
            args.extend(egress.chromium_args())
        context = await self._playwright.chromium.launch_persistent_context(
            profile,
            executable_path=self.executable,
            headless=True,
            args=args,
            viewport=VIEWPORT,  # type: ignore[arg-type]
            device_scale_factor=1,
            service_workers="block",
            accept_downloads=False,
            handle_sigint=False,
            handle_sigterm=False,
            handle_sighup=False,
            **options,
        )
        if self.version is None:
            self.version = await read_version(context)
        return context


async def read_version(context: BrowserContext) -> str:
    """The browser's product and version, over CDP: a persistent context has no ``Browser`` to
    ask (``context.browser`` is ``None``)."""
    page = context.pages[0] if context.pages else await context.new_page()
    session = await context.new_cdp_session(page)
    try:
        info = await session.send("Browser.getVersion")
    finally:
        await session.detach()
    return str(info["product"])


async def capture_page(
    context: BrowserContext, url: str, timer: PhaseTimer, *, ready_by: float
) -> Shot:
    """Navigate the context's first tab to ``url``, wait for readiness, take a viewport PNG."""
    context.on("page", _close_popup)
    await context.add_init_script(INIT_SCRIPT)
    page = context.pages[0] if context.pages else await context.new_page()
    page.on("dialog", _dismiss)
    network = NetworkTracker(page)
    document = MainDocument(page)
    errors = PageErrors(page)
    with timer.phase("navigation"):
        response = await page.goto(url, wait_until="domcontentloaded")
        if response is not None:
            _check_document(response)
        await _wait_for_load(page)
    seen = await _settle_and_shoot(page, (network, document, errors), timer, ready_by)
    # The page may have navigated itself since (a script redirect): judge the document shown.
    final = document.response or response
    if final is not None:
        _check_document(final)
    info = PageInfo(
        http_status=final.status if final else None,
        final_url=page.url,
        title=seen.title,
        settled=seen.readiness.settled,
        waiting_for=list(seen.readiness.waiting_for),
        app_error=seen.app_error,
        errors=list(errors.messages),
    )
    return Shot(png=seen.png, page=info, dom=seen.dom)


def _check_document(response: Response) -> None:
    headers = response.headers
    classify_main_response(
        response.status, headers.get(BLOCKED_HEADER.lower()), headers.get(ERROR_HEADER.lower())
    )


async def _settle_and_shoot(
    page: Page,
    watchers: tuple[NetworkTracker, MainDocument, PageErrors],
    timer: PhaseTimer,
    ready_by: float,
) -> _Seen:
    """Readiness, then the PNG and the page's facts. A page that navigates itself meanwhile is
    followed: its new document gets the same wait, until the caller's deadline."""
    network, document, errors = watchers
    while True:
        commits = document.commits
        try:
            with timer.phase("readiness"):
                readiness = await wait_until_ready(page, network, document, deadline=ready_by)
            with timer.phase("screenshot"):
                seen = await _shoot(page, errors, readiness)
            # Taken while the page was leaving: the document on its way replaces this one.
            if not await document.replaced_since(commits, COMMIT_GRACE_S):
                return seen
        except PlaywrightError as exc:
            navigated = document.commits != commits or NAVIGATED_AWAY in (exc.message or "")
            if not navigated:
                raise
            timer.interrupted = None  # not a failure: the new document is waited for
        with timer.phase("readiness"):
            await _wait_for_load(page)


async def _shoot(page: Page, errors: PageErrors, readiness: Readiness) -> _Seen:
    """The page's facts, then its PNG: an error screen as it shows, else the app without the dev
    servers' chrome."""
    dom = await read_evidence(page)
    has_content = dom.text_length > 0 or dom.images_total > 0
    app_error = await read_app_error(page, errors, has_content=has_content)
    png = await page.screenshot(
        type="png",
        full_page=False,
        animations="disabled",
        timeout=SCREENSHOT_TIMEOUT_MS,
        style=None if app_error else DEV_CHROME_STYLE,
    )
    return _Seen(png, dom, await read_title(page), readiness, app_error)


async def _wait_for_load(page: Page) -> None:
    # A never-ending subresource must not cost the capture: take what rendered by then.
    try:
        await page.wait_for_load_state("load", timeout=LOAD_GRACE_MS)
    except PlaywrightTimeoutError:
        return


async def _dismiss(dialog: Dialog) -> None:
    try:
        await dialog.dismiss()
    except PlaywrightError:
        return  # the page went away with its dialog


async def _close_popup(page: Page) -> None:
    # The persistent context's first tab is the one we drive; every later tab is a popup.
    if page.context.pages and page is not page.context.pages[0]:
        try:
            await page.close()
        except PlaywrightError:
            return


async def _teardown(timer: PhaseTimer, context: BrowserContext | None, profile: str) -> None:
    with timer.phase("teardown"):
        await close_browser(context, profile)


async def close_browser(context: BrowserContext | None, profile: str) -> None:
    """Close politely, kill whatever is left of this capture's processes, remove its profile."""
    try:
        if context is not None:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await context.close()
    except (TimeoutError, PlaywrightError):
        pass  # killed below
    finally:
        kill_processes(find_processes(profile))
        shutil.rmtree(profile, ignore_errors=True)
