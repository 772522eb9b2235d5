"""Fills Node's compile cache for the Playwright driver at image build time.

The driver is a Node program of several megabytes of JavaScript, compiled again by every cold
start. With NODE_COMPILE_CACHE pointing at a directory that holds the compiled code, Node reads it
instead (the driver's module load at 1.16 CPUs: 535-894 ms without, 401-757 ms with). The cache is
written when the driver exits, so this starts it, drives one browser through the calls a capture
makes, and stops it. At run time the directory is read-only: Node reads it and writes nothing.

Node keeps one cache per user: it looks in NODE_COMPILE_CACHE/<node version>-<arch>-<V8 tag>-<uid>.
This build writes the root user's; a function running as any other uid would find nothing there
and compile everything again. So the same directory is also named for the uids the image runs as:
Lambda's (993, the uid Lambda runs functions as) and the image's own user (10001: `docker run`
without --user, `sam local invoke`). Another uid still works, only without the cache.
"""

import asyncio
import os
from pathlib import Path

from playwright.async_api import async_playwright

RUN_AS_UIDS = (993, 10001)


async def main() -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=os.environ["CHROMIUM_EXECUTABLE"], args=["--no-sandbox", "--no-zygote"]
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        await page.set_content("<h1>compile cache</h1>")
        await page.evaluate("document.title")
        await page.screenshot()
        await context.close()
        await browser.close()


def serve_run_time_uids(cache: Path) -> None:
    """Name the build's cache for every uid in ``RUN_AS_UIDS`` (relative links, read-only later)."""
    suffix = f"-{os.getuid()}"
    (built,) = (path for path in cache.iterdir() if path.name.endswith(suffix))
    for uid in RUN_AS_UIDS:
        (cache / (built.name.removesuffix(suffix) + f"-{uid}")).symlink_to(built.name)


asyncio.run(main())
serve_run_time_uids(Path(os.environ["NODE_COMPILE_CACHE"]))
