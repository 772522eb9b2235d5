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
import threading
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.async_api import Browser, Playwright, async_playwright

from lambda_fn.egress import EgressProxy
from lambda_fn.guard import UrlPolicy

EXECUTABLE = "/usr/bin/chromium-headless-shell"
ARGS = (
    "--no-sandbox",
    "--no-zygote",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)
KINDS = {
    "js": ("application/javascript", "<script src='/r{i}.js'></script>", "var v{i} = '{pad}';"),
    "css": ("text/css", "<link rel='stylesheet' href='/r{i}.css'>", ".c{i} {{ content: '{pad}' }}"),
    "svg": (
        "image/svg+xml",
        "<img src='/r{i}.svg' width='8' height='8'>",
        "<svg xmlns='http://www.w3.org/2000/svg'><desc>{pad}</desc></svg>",
    ),
}


def build_site(subresources: int) -> dict[str, tuple[str, bytes]]:
    """Path → (content type, body): an index page referencing ``subresources`` files of ~8 KB."""
    site: dict[str, tuple[str, bytes]] = {}
    tags = []
    for i in range(subresources):
        extension = list(KINDS)[i % len(KINDS)]
        content_type, tag, body = KINDS[extension]
        tags.append(tag.format(i=i))
        site[f"/r{i}.{extension}"] = (content_type, body.format(i=i, pad="x" * 8000).encode())
    page = f"<!doctype html><title>bench</title>{''.join(tags)}<p>done</p>"
    site["/"] = ("text/html", page.encode())
    return site


@contextmanager
def serve(site: dict[str, tuple[str, bytes]]) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: with Nagle's algorithm on, every
        # keep-alive response would wait out the client's delayed ACK (~40 ms).
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            content_type, body = site.get(self.path, ("text/plain", b"missing"))
            self.send_response(200 if self.path in site else 404)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


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
            args=[*ARGS, *proxy.chromium_args()],
            proxy=proxy.playwright_proxy(),
        )
    else:
        browser = await playwright.chromium.launch(executable_path=EXECUTABLE, args=ARGS)
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


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--subresources", type=int, default=30)
    options = parser.parse_args()
    with serve(build_site(options.subresources)) as port:
        timings = asyncio.run(measure(f"http://127.0.0.1:{port}/", options.rounds))
    print(f"{options.subresources} subresources, {options.rounds} rounds, fresh browser per load")
    for mode, values in timings.items():
        p50, p90 = statistics.median(values) * 1000, percentile(values, 0.9) * 1000
        print(f"{mode:>6}: p50 {p50:7.1f} ms   p90 {p90:7.1f} ms")
    ratio = statistics.median(timings["proxy"]) / statistics.median(timings["direct"])
    print(f" ratio: proxy p50 / direct p50 = {ratio:.2f}")


if __name__ == "__main__":
    main()
