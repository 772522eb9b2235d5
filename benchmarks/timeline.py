"""What the stage timeline adds to a capture: diff, thumbnail and record (targets: at most 60 ms
p50 added, changed_fraction within 0.01 on synthetic pairs, thumbnail under 15 KB p50).

Run: .venv/bin/python benchmarks/timeline.py [--runs N]

The benchmark pages are screenshotted at 1280x800 by the headless shell, twice each (the second
render is the "re-rendered identical" case) and once with a block inserted (a changed stage).
Timed per pair, in-process: ``compare`` + ``thumbnail`` + ``record`` (the S3 reads and writes of
the previous PNG and the two beside-objects are network time, reported separately by the
functional tier, not here). Accuracy: solid rectangles of known area painted on the screenshots.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.async_api import async_playwright

from lambda_fn.browser import find_executable
from lambda_fn.diff import compare
from lambda_fn.record import record
from lambda_fn.thumbnail import thumbnail

PAGES = Path(__file__).parent / "pages"
NAMES = ("static.html", "fonts.html", "images.html", "blank.html")
INSERT = (
    "document.body.insertAdjacentHTML('afterbegin', "
    "\"<div style='width:500px;height:180px;background:#2a7'>New stage</div>\")"
)


async def screenshots() -> list[tuple[bytes, bytes, bytes]]:
    """(first, re-rendered, changed) screenshots of each benchmark page."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=find_executable(None))
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        shots = []
        for name in NAMES:
            url = (PAGES / name).as_uri()
            await page.goto(url, wait_until="load")
            first = await page.screenshot()
            await page.goto(url, wait_until="load")
            again = await page.screenshot()
            await page.evaluate(INSERT)
            changed = await page.screenshot()
            shots.append((first, again, changed))
        await browser.close()
    return shots


def timeline_ms(previous: bytes, current: bytes) -> float:
    started = time.perf_counter()
    comparison = compare(previous, current)
    thumbnail(current)
    record({"status": "captured", "diff": {"changed_fraction": comparison.changed_fraction}})
    return (time.perf_counter() - started) * 1000


def painted(png: bytes, rng: np.random.Generator) -> tuple[bytes, float]:
    """``png`` with 1-4 magenta rectangles; the true fraction of pixels they changed."""
    before = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    after = before.copy()
    for _ in range(int(rng.integers(1, 5))):
        w, h = int(rng.integers(20, 500)), int(rng.integers(20, 300))
        x, y = int(rng.integers(0, 1280 - w)), int(rng.integers(0, 800 - h))
        after[y : y + h, x : x + w] = (255, 0, 255)
    truth = float(np.any(before != after, axis=2).mean())
    out = io.BytesIO()
    Image.fromarray(after).save(out, format="PNG")
    return out.getvalue(), truth


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    shots = asyncio.run(screenshots())
    cases = {"identical bytes": [], "re-rendered": [], "changed": []}  # type: dict[str, list[float]]
    fractions = {"re-rendered": [], "changed": []}  # type: dict[str, list[float]]
    for first, again, changed in shots:
        for _ in range(args.runs):
            cases["identical bytes"].append(timeline_ms(first, first))
            cases["re-rendered"].append(timeline_ms(first, again))
            cases["changed"].append(timeline_ms(first, changed))
        fractions["re-rendered"].append(compare(first, again).changed_fraction)
        fractions["changed"].append(compare(first, changed).changed_fraction)
    rng = np.random.default_rng(15)
    errors = []
    for _ in range(args.runs):
        for first, _again, _changed in shots:
            after, truth = painted(first, rng)
            errors.append(abs(compare(first, after).changed_fraction - truth))
    sizes = [len(thumbnail(shot)) for triple in shots for shot in triple]
    report = {
        "added_ms_p50": {k: round(statistics.median(v), 1) for k, v in cases.items()},
        "added_ms_p95": {k: round(statistics.quantiles(v, n=20)[18], 1) for k, v in cases.items()},
        "changed_fraction": fractions,
        "synthetic_pairs": len(errors),
        "synthetic_error_max": round(max(errors), 4),
        "synthetic_error_p50": round(statistics.median(errors), 4),
        "thumbnail_bytes_p50": statistics.median(sizes),
        "thumbnail_bytes_max": max(sizes),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
