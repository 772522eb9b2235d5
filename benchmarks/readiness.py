"""Readiness on real framework apps (the tests/frameworks bed): this service's capture side by side
with the common recipe, the raw headless shell, and the service with Playwright's clock run
forward; then the bytes of one Next dev page over repeated captures, and the stage's worst case
with a hog on every core.

    .venv/bin/python benchmarks/readiness.py [--rounds N] [--cold-rounds N] [--repeat N]
                                             [--worst N] [--servers vite-dev,next-dev,...]

Variants, every one with the same headless shell and a Playwright driver kept for the run:

service  capture() as the handler runs it (fresh browser, egress proxy, readiness, judgement)
clock    the same, with ``page.clock`` installed and run forward whenever the page has short
         timers pending, instead of waiting for them
recipe   launch, ``goto(wait_until="load")``, sleep 1 s, viewport screenshot, close
raw      ``chromium-headless-shell --screenshot`` as one process

Completeness is read from the PNG (the bed's marker colours), never from a verdict. Warm rounds
run every variant on a page before the next page, rotating their order; a cold round restarts
the server with its caches cleared before each variant's one capture.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib.report import markdown_table, p50
from benchlib.variants import EXECUTABLE, FLOOR_ARGS, RECIPE_ARGS, RECIPE_SLEEP_S
from playwright.async_api import Page, async_playwright

# The bed is the test suite's: the same apps, servers and pixel markers.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lambda_fn.capture import browser, readiness
from lambda_fn.capture.browser import Chromium
from lambda_fn.capture.stage import MAX_ATTEMPTS, Outcome, capture
from lambda_fn.events import parse_request
from tests.frameworks.bed import (
    LOCAL,
    SERVERS,
    AppServer,
    ServerKind,
    shows_chart,
    shows_loaded_page,
)

VARIANTS = ("service", "clock", "recipe", "raw")
PAGES = {"dashboard": "/?delay=500", "chart": "/?chart"}
WARM_PATHS = ("/", "/api/orders", "/api/orders.json", "/?chart")
CLOCK_STEP_MS = 3000  # readiness's timer horizon: every timer due that soon is run at once


@dataclass(frozen=True, slots=True)
class Sample:
    server: str
    temperature: str  # "warm" or "cold"
    page: str
    variant: str
    wall_ms: float
    complete: bool
    sha256: str | None


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def is_complete(page: str, png: bytes | None) -> bool:
    if png is None:
        return False
    return shows_loaded_page(png) and (page != "chart" or shows_chart(png))


async def shoot_service(chromium: Chromium, url: str) -> Outcome:
    request = parse_request({"job_id": "bench", "stage": "ready", "preview_url": url})
    return await capture(request, LOCAL, chromium=chromium, store=None)


async def run_clock_forward(page: Page) -> None:
    """While readiness waits: whenever the page has short timers pending, run them now."""
    while True:
        with contextlib.suppress(Exception):  # the page may be between documents
            if await page.evaluate("() => (window.__previewTimers || new Map()).size"):
                await page.clock.run_for(CLOCK_STEP_MS)
        await asyncio.sleep(readiness.POLL_S)


async def capture_with_clock(context: Any, *args: Any, **kwargs: Any) -> Any:
    await context.clock.install()  # before the page's first script: every timer is fake
    return await ORIGINAL_CAPTURE_PAGE(context, *args, **kwargs)


async def wait_with_clock(page: Page, *args: Any, **kwargs: Any) -> readiness.Readiness:
    ticker = asyncio.create_task(run_clock_forward(page))
    try:
        return await ORIGINAL_WAIT(page, *args, **kwargs)
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker


ORIGINAL_CAPTURE_PAGE = browser.capture_page
ORIGINAL_WAIT = browser.wait_until_ready


@contextlib.contextmanager
def clock_readiness() -> Iterator[None]:
    """The service with Playwright's clock installed and run forward while readiness waits."""
    browser.capture_page = capture_with_clock  # type: ignore[assignment]
    browser.wait_until_ready = wait_with_clock  # type: ignore[assignment]
    try:
        yield
    finally:
        browser.capture_page = ORIGINAL_CAPTURE_PAGE
        browser.wait_until_ready = ORIGINAL_WAIT


async def shoot_recipe(playwright: Any, url: str) -> bytes:
    launched = await playwright.chromium.launch(executable_path=EXECUTABLE, args=RECIPE_ARGS)
    try:
        page = await launched.new_page(viewport={"width": 1280, "height": 800})
        await page.goto(url, wait_until="load", timeout=30_000)
        await asyncio.sleep(RECIPE_SLEEP_S)
        png: bytes = await page.screenshot(type="png")
        return png
    finally:
        await launched.close()


def shoot_raw(url: str) -> bytes | None:
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as scratch:
        target = Path(scratch) / "shot.png"
        command = [EXECUTABLE, *FLOOR_ARGS, f"--user-data-dir={scratch}/profile"]
        command += [f"--screenshot={target}", url]
        subprocess.run(command, capture_output=True, timeout=60, check=False)
        return target.read_bytes() if target.exists() else None


class Runner:
    """One driver for the service variants, one for the recipe, for the whole run."""

    def __init__(self, chromium: Chromium, playwright: Any) -> None:
        self.chromium = chromium
        self.playwright = playwright

    async def shoot(self, variant: str, url: str) -> bytes | None:
        if variant == "service":
            return (await shoot_service(self.chromium, url)).png
        if variant == "clock":
            with clock_readiness():
                return (await shoot_service(self.chromium, url)).png
        if variant == "recipe":
            return await shoot_recipe(self.playwright, url)
        return await asyncio.to_thread(shoot_raw, url)

    async def sample(self, server: AppServer, temperature: str, page: str, variant: str) -> Sample:
        started = time.perf_counter()
        png = await self.shoot(variant, server.url(PAGES[page]))
        wall_ms = (time.perf_counter() - started) * 1000
        digest = hashlib.sha256(png).hexdigest() if png else None
        complete = is_complete(page, png)
        return Sample(server.kind.name, temperature, page, variant, wall_ms, complete, digest)


async def warm_rounds(runner: Runner, kind: ServerKind, rounds: int) -> list[Sample]:
    samples = []
    server = AppServer(kind)
    server.start()
    try:
        server.warm(WARM_PATHS)
        for number in range(rounds):
            order = VARIANTS[number % 4 :] + VARIANTS[: number % 4]
            for page in PAGES:
                for variant in order:
                    samples.append(await runner.sample(server, "warm", page, variant))
    finally:
        server.stop()
    return samples


async def cold_rounds(runner: Runner, kind: ServerKind, rounds: int) -> list[Sample]:
    samples = []
    for number in range(rounds):
        for variant in VARIANTS[number % 4 :] + VARIANTS[: number % 4]:
            server = AppServer(kind)
            server.start(cold=True)
            try:
                samples.append(await runner.sample(server, "cold", "dashboard", variant))
            finally:
                server.stop()
    return samples


async def repeated_bytes(runner: Runner, kind: ServerKind, count: int) -> list[Sample]:
    """``count`` service captures of one page of a warm server, for the sha256 count."""
    server = AppServer(kind)
    server.start()
    try:
        server.warm(WARM_PATHS)
        return [await runner.sample(server, "warm", "dashboard", "service") for _ in range(count)]
    finally:
        server.stop()


def hog(stop_at: float) -> None:
    while time.monotonic() < stop_at:
        pass


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers: the worst case of a stage."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


async def worst_case(chromium: Chromium, count: int) -> list[dict[str, Any]]:
    """Stages against a server that never answers, with a busy loop on every core."""
    cores = os.cpu_count() or 1
    rows = []
    with silent_server() as url:
        for _ in range(count):
            hogs = [
                multiprocessing.Process(target=hog, args=(time.monotonic() + 60,))
                for _ in range(cores)
            ]
            for process in hogs:
                process.start()
            try:
                started = time.perf_counter()
                outcome = await shoot_service(chromium, url)
                wall_s = time.perf_counter() - started
            finally:
                for process in hogs:
                    process.terminate()
                    process.join()
            result = outcome.result
            rows.append(
                {
                    "reason": result.reason,
                    "attempts": result.attempts,
                    "duration_s": result.duration_ms / 1000,
                    "wall_s": round(wall_s, 2),
                    "teardown_ms": [
                        entry.timings_ms.get("teardown") for entry in result.attempt_log
                    ],
                }
            )
    return rows


def summary_rows(samples: list[Sample]) -> list[tuple[Any, ...]]:
    cells: dict[tuple[str, str, str], dict[str, list[Sample]]] = collections.defaultdict(dict)
    for sample in samples:
        key = (sample.server, sample.temperature, sample.page)
        cells[key].setdefault(sample.variant, []).append(sample)
    rows = []
    for (server, temperature, page), by_variant in sorted(cells.items()):
        row: list[Any] = [server, temperature, page]
        for variant in VARIANTS:
            found = by_variant.get(variant, [])
            done = sum(sample.complete for sample in found)
            wall = p50([sample.wall_ms for sample in found]) if found else float("nan")
            row.append(f"{wall:.0f} ms, {done}/{len(found)}")
        service, recipe = by_variant.get("service", []), by_variant.get("recipe", [])
        if service and recipe:
            ratio = p50([s.wall_ms for s in service]) / p50([s.wall_ms for s in recipe])
            row.append(f"{ratio:.2f}")
        rows.append(tuple(row))
    return rows


def totals(samples: list[Sample]) -> list[tuple[Any, ...]]:
    rows = []
    for temperature in ("warm", "cold"):
        for variant in VARIANTS:
            found = [s for s in samples if s.temperature == temperature and s.variant == variant]
            if found:
                done = sum(s.complete for s in found)
                rows.append(
                    (temperature, variant, f"{done}/{len(found)}", f"{done / len(found):.0%}")
                )
    return rows


def completed_ratio(samples: list[Sample], variant: str) -> float | None:
    """Warm p50 of ``variant`` over the recipe's, on the (server, page) cells both completed
    every time: the sum of p50s, so each cell weighs what it costs."""
    cells = collections.defaultdict(lambda: collections.defaultdict(list))
    for sample in samples:
        if sample.temperature == "warm":
            cells[(sample.server, sample.page)][sample.variant].append(sample)
    top = bottom = 0.0
    for by_variant in cells.values():
        mine, recipe = by_variant.get(variant, []), by_variant.get("recipe", [])
        if mine and recipe and all(s.complete for s in mine + recipe):
            top += p50([s.wall_ms for s in mine])
            bottom += p50([s.wall_ms for s in recipe])
    return top / bottom if bottom else None


def sha_lines(samples: list[Sample]) -> list[str]:
    lines = []
    groups = collections.defaultdict(list)
    for sample in samples:
        if sample.variant == "service":
            groups[(sample.server, sample.temperature, sample.page)].append(sample.sha256)
    for (server, temperature, page), digests in sorted(groups.items()):
        top = collections.Counter(digests).most_common(1)[0][1]
        lines.append(
            f"- {server} {temperature} {page}: the most common sha256 in {top} of {len(digests)}"
            f" captures ({len(set(digests))} distinct)"
        )
    return lines


def report(samples: list[Sample], repeated: list[Sample], worst: list[dict[str, Any]]) -> None:
    header = (
        "server",
        "state",
        "page",
        *(f"{v} p50, complete" for v in VARIANTS),
        "service/recipe",
    )
    print(markdown_table(header, summary_rows(samples)))
    print()
    print(markdown_table(("state", "variant", "complete", "share"), totals(samples)))
    print()
    for variant in ("service", "clock"):
        ratio = completed_ratio(samples, variant)
        shown = "n/a" if ratio is None else f"{ratio:.2f}"
        print(f"- warm {variant}/recipe on the cells both completed every time: {shown}")
    print()
    print("\n".join(sha_lines(samples + repeated)))
    if worst:
        print()
        rows = [tuple(row.values()) for row in worst]
        print(markdown_table(tuple(worst[0]), rows))
        print(f"- stage ceiling: {MAX_ATTEMPTS} x {LOCAL.attempt_budget_s} s")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="warm rounds per server")
    parser.add_argument("--cold-rounds", type=int, default=2, help="cold rounds per server")
    parser.add_argument("--repeat", type=int, default=10, help="captures of one Next dev page")
    parser.add_argument("--worst", type=int, default=2, help="never-answering stages under load")
    parser.add_argument("--servers", default=",".join(kind.name for kind in SERVERS))
    return parser.parse_args()


async def main(args: argparse.Namespace) -> None:
    kinds = [kind for kind in SERVERS if kind.name in args.servers.split(",")]
    chromium = Chromium(browser.find_executable(LOCAL.chromium_executable))
    await chromium.start()
    samples: list[Sample] = []
    repeated: list[Sample] = []
    try:
        async with async_playwright() as playwright:
            runner = Runner(chromium, playwright)
            for kind in kinds:
                progress(f"{kind.name}: warm")
                samples += await warm_rounds(runner, kind, args.rounds)
                progress(f"{kind.name}: cold")
                samples += await cold_rounds(runner, kind, args.cold_rounds)
            if args.repeat and any(kind.name == "next-dev" for kind in kinds):
                progress("next-dev: repeated captures")
                next_dev = next(kind for kind in kinds if kind.name == "next-dev")
                repeated = await repeated_bytes(runner, next_dev, args.repeat)
        progress("worst case under load")
        worst = await worst_case(chromium, args.worst)
    finally:
        await chromium.stop()
    report(samples, repeated, worst)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
