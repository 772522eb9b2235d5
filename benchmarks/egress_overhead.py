"""What the egress proxy costs a page load: Chromium direct vs. through ``EgressProxy``.

A local page with N subresources (scripts, styles, images) is loaded in a fresh headless shell per
run, as a capture does. Modes alternate run by run (and swap order each round) so drift in machine
load hits both alike. Reported: p50 and p90 of navigation-to-``load`` time, and the p50 ratio.

    .venv/bin/python benchmarks/egress_overhead.py [--rounds 10] [--subresources 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from contextlib import AsyncExitStack

from benchlib.report import percentile
from benchlib.site import Route, serve_routes
from playwright.async_api import Browser, Playwright, async_playwright

from lambda_fn.capture.browser import CHROMIUM_ARGS
from lambda_fn.network.egress import EgressProxy
from lambda_fn.network.guard import UrlPolicy

EXECUTABLE = "/usr/bin/chromium-headless-shell"
KINDS = {
    "js": ("application/javascript", "<script src='/r{i}.js'></script>", "var v{i} = '{pad}';"),
    "css": ("text/css", "<link rel='stylesheet' href='/r{i}.css'>", ".c{i} {{ content: '{pad}' }}"),
    "svg": (
        "image/svg+xml",
        "<img src='/r{i}.svg' width='8' height='8'>",
        "<svg xmlns='http://www.w3.org/2000/svg'><desc>{pad}</desc></svg>",
    ),
}


def build_site(subresources: int) -> dict[str, Route]:
    """An index page referencing ``subresources`` files of ~8 KB, all answered at once."""
    site: dict[str, Route] = {}
    tags = []
    for i in range(subresources):
        extension = list(KINDS)[i % len(KINDS)]
        content_type, tag, body = KINDS[extension]
        tags.append(tag.format(i=i))
        site[f"/r{i}.{extension}"] = (content_type, body.format(i=i, pad="x" * 8000).encode(), 0)
    page = f"<!doctype html><title>bench</title>{''.join(tags)}<p>done</p>"
    site["/"] = ("text/html", page.encode(), 0)
    return site


async def load_once(playwright: Playwright, url: str, *, proxied: bool) -> float:
    """Seconds from navigation start to ``load`` in a fresh browser (and a fresh proxy)."""
    async with AsyncExitStack() as stack:
        browser = await launch(playwright, stack, proxied=proxied)
        page = await browser.new_page()
        started = time.perf_counter()
        response = await page.goto(url, wait_until="load")
        elapsed = time.perf_counter() - started
        if response is None or response.status != 200:
            raise RuntimeError(f"page load failed: {response}")
        return elapsed


async def launch(playwright: Playwright, stack: AsyncExitStack, *, proxied: bool) -> Browser:
    """A headless shell, wired to a fresh proxy when ``proxied``; ``stack`` closes it first."""
    if proxied:
        proxy = await stack.enter_async_context(EgressProxy(UrlPolicy(allow_private=True)))
        browser = await playwright.chromium.launch(
            executable_path=EXECUTABLE,
            args=[*CHROMIUM_ARGS, *proxy.chromium_args()],
            proxy=proxy.playwright_proxy(),
        )
    else:
        browser = await playwright.chromium.launch(executable_path=EXECUTABLE, args=CHROMIUM_ARGS)
    stack.push_async_callback(browser.close)
    return browser


async def measure(url: str, rounds: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"direct": [], "proxy": []}
    async with async_playwright() as playwright:
        await load_once(playwright, url, proxied=False)  # warm the page cache and the driver
        for round_number in range(rounds):
            order = ("direct", "proxy") if round_number % 2 == 0 else ("proxy", "direct")
            for mode in order:
                timings[mode].append(await load_once(playwright, url, proxied=mode == "proxy"))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--subresources", type=int, default=30)
    options = parser.parse_args()
    with serve_routes(build_site(options.subresources)) as base_url:
        timings = asyncio.run(measure(f"{base_url}/", options.rounds))
    print(f"{options.subresources} subresources, {options.rounds} rounds, fresh browser per load")
    for mode, values in timings.items():
        p50, p90 = statistics.median(values) * 1000, percentile(values, 0.9) * 1000
        print(f"{mode:>6}: p50 {p50:7.1f} ms   p90 {p90:7.1f} ms")
    ratio = statistics.median(timings["proxy"]) / statistics.median(timings["direct"])
    print(f" ratio: proxy p50 / direct p50 = {ratio:.2f}")


if __name__ == "__main__":
    main()
