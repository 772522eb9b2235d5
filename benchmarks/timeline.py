"""What the stage timeline adds to a capture: diff, thumbnail and record (targets: at most 60 ms
p50 added to a warm capture, changed_fraction within 0.01 on synthetic pairs, thumbnail under
15 KB p50).

Run: PYTHONPATH=. .venv/bin/python benchmarks/timeline.py [--runs N] [--rounds N]

In-process: the benchmark pages are screenshotted at 1280x800 by the headless shell, twice each
(the second render is the "re-rendered identical" case) and once with a block inserted (a changed
stage); per pair, the timeline's ``prepare`` after the judgement (``compare`` of the decoded pair,
``thumbnail``) and the ``record``, and apart from it the previous PNG's decode, which
``Timeline.recall`` does while the page loads. Accuracy: solid rectangles of known area painted on
the screenshots.

End to end: the real service (warm, local AWS emulator, pages on loopback) captures each page at
``checks`` and a changed version at ``ready``, with the timeline and without it, side by side in
each round (order alternating); the ``ready`` capture's wall time is compared.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import io
import json
import logging
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from benchlib.helpers import Remote, remote_side
from benchlib.site import CONTENT_PAGES, changed_path
from PIL import Image
from playwright.async_api import async_playwright

from lambda_fn.capture.browser import find_executable
from lambda_fn.config import Settings
from lambda_fn.local.context import LocalContext
from lambda_fn.observability import logger
from lambda_fn.pictures.diff import FRACTION_ERROR, Picture, compare, decode
from lambda_fn.pictures.thumbnail import thumbnail
from lambda_fn.service import Service
from lambda_fn.state.record import record
from lambda_fn.state.timeline import Baseline, Recalled, prepare


async def screenshots(base_url: str) -> list[tuple[bytes, bytes, bytes]]:
    """(first, re-rendered, changed) screenshots of each content page of the benchmark site."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=find_executable(None))
        tab = await browser.new_page(viewport={"width": 1280, "height": 800})
        shots = []
        for page in CONTENT_PAGES:
            taken = []
            for path in (page.path, page.path, changed_path(page)):
                # The benchmark pages are static: no dev-server socket keeps the network busy.
                await tab.goto(base_url + path, wait_until="networkidle")
                taken.append(await tab.screenshot())
            shots.append((taken[0], taken[1], taken[2]))
        await browser.close()
    return shots


def timeline_ms(previous: bytes, current: bytes) -> tuple[float, float]:
    """What the timeline adds after the PNG is decoded for its judgement (``prepare``: the diff
    and thumbnail; and the record), and what ``Timeline.recall`` does with the previous PNG
    while the page loads (decoded, ready to compare): ms each."""
    started = time.perf_counter()
    recalled = Recalled(Baseline("previous", "checks", Picture.of(previous)), None)
    recall_ms = (time.perf_counter() - started) * 1000
    pixels = decode(current, "current")  # the judgement's, done with or without the timeline
    started = time.perf_counter()
    draft = prepare(recalled, "ready", current, pixels)
    record({"status": "captured", "diff": draft.diff}, browser="HeadlessChrome")
    return (time.perf_counter() - started) * 1000, recall_ms


def sampling_ratio(previous: bytes, current: bytes, runs: int) -> dict[str, float]:
    """``compare`` of the decoded pair with the exact test everywhere and with the default
    sample, alternating: p50 ms, their ratio and the fractions."""
    old, new = Picture.of(previous), Picture.of(current)
    times: dict[float, list[float]] = {0.0: [], FRACTION_ERROR: []}
    for number in range(runs):
        for tolerance in sorted(times, reverse=bool(number % 2)):
            started = time.perf_counter()
            compare(old, new, tolerance=tolerance)
            times[tolerance].append((time.perf_counter() - started) * 1000)
    exact, sampled = (statistics.median(times[t]) for t in (0.0, FRACTION_ERROR))
    return {
        "exact_ms_p50": round(exact, 1),
        "sampled_ms_p50": round(sampled, 1),
        "ratio": round(sampled / exact, 3),
        "exact_fraction": compare(old, new, tolerance=0.0).changed_fraction,
        "sampled_fraction": compare(old, new).changed_fraction,
    }


def end_to_end(remote: Remote, rounds: int) -> dict[str, object]:
    """Wall time of the ``ready`` capture (changed page, diffed) with and without the timeline."""
    walls: dict[str, list[float]] = {"with": [], "without": []}
    phases: dict[str, collections.defaultdict[str, list[float]]] = {
        name: collections.defaultdict(list) for name in walls
    }
    added: list[float] = []
    with (
        Path(os.devnull).open("w") as devnull,
        contextlib.redirect_stdout(devnull),  # a JSON log line and EMF metrics per capture
    ):
        handler_log = logger.registered_handler
        if isinstance(handler_log, logging.StreamHandler):
            handler_log.setStream(devnull)
        base = remote.base_url
        on = Service.start(settings(remote.aws_env))
        off = replace(on, timeline=None)
        try:
            for number in range(rounds + 1):  # round 0 warms up and is not counted
                order = [("with", on), ("without", off)]
                for page in CONTENT_PAGES:
                    for name, service in order if number % 2 else order[::-1]:
                        job = f"{name}-{page.name}-{number}"
                        wall, result = capture(service, job, "checks", base + page.path)
                        changed = base + changed_path(page)
                        wall, result = capture(service, job, "ready", changed)
                        if number and name == "with":
                            assert result["diff"] is not None, result["diff_reason"]
                            timings = result["timings_ms"]
                            added.append(timings["timeline_wait"] + timings["beside"])
                        if number:
                            walls[name].append(wall)
                            for phase, ms in result["timings_ms"].items():  # type: ignore[attr-defined]
                                phases[name][phase].append(ms)
        finally:
            on.close()
    p50 = {name: statistics.median(values) for name, values in walls.items()}
    return {
        "ready_wall_ms_p50": {name: round(value, 1) for name, value in p50.items()},
        "ready_wall_ratio": round(p50["with"] / p50["without"], 3),
        "added_ms_p50": round(p50["with"] - p50["without"], 1),
        "timeline_wait_plus_beside_ms_p50": statistics.median(added),
        "captures_per_variant": len(walls["with"]),
        "phases_ms_p50": {
            name: {phase: statistics.median(values) for phase, values in by_phase.items()}
            for name, by_phase in phases.items()
        },
    }


def settings(aws_env: dict[str, str]) -> Settings:
    for name, value in {**aws_env, "RESULT_BUS": ""}.items():
        os.environ[name] = value
    os.environ["ALLOW_PRIVATE_URLS"] = "true"
    return Settings.from_env(os.environ)


def capture(service: Service, job: str, stage: str, url: str) -> tuple[float, dict[str, object]]:
    event = {"job_id": job, "stage": stage, "preview_url": url}
    started = time.perf_counter()
    result = service.handle(event, LocalContext())  # type: ignore[arg-type]
    assert result["status"] == "captured", result
    return (time.perf_counter() - started) * 1000, result


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
    parser.add_argument("--runs", type=int, default=20, help="in-process runs per pair")
    parser.add_argument("--rounds", type=int, default=10, help="end-to-end rounds")
    args = parser.parse_args()
    report: dict[str, object]
    with remote_side() as remote:  # pages and AWS emulator out of the measured process
        shots = asyncio.run(screenshots(remote.base_url))
        report = measure(shots, args.runs)
        report["end_to_end"] = end_to_end(remote, args.rounds)
    print(json.dumps(report, indent=2))


def measure(shots: list[tuple[bytes, bytes, bytes]], runs: int) -> dict[str, object]:
    """In-process: time added per pair, fractions, accuracy on painted rectangles, sizes."""
    cases = {"identical bytes": [], "re-rendered": [], "changed": []}  # type: dict[str, list[float]]
    recall: list[float] = []
    fractions = {"re-rendered": [], "changed": []}  # type: dict[str, list[float]]
    by_page: dict[str, float] = {}
    exact_vs_sampled: dict[str, dict[str, float]] = {}
    for page, (first, again, changed) in zip(CONTENT_PAGES, shots, strict=True):
        for _ in range(runs):
            for name, current in (("identical bytes", first), ("re-rendered", again)):
                cases[name].append(timeline_ms(first, current)[0])
            added, decoded = timeline_ms(first, changed)
            cases["changed"].append(added)
            recall.append(decoded)
        by_page[page.name] = round(statistics.median(cases["changed"][-runs:]), 1)
        exact_vs_sampled[page.name] = sampling_ratio(first, changed, runs)
        fractions["re-rendered"].append(compare(first, again).changed_fraction)
        fractions["changed"].append(compare(first, changed).changed_fraction)
    rng = np.random.default_rng(15)
    errors = []
    for _ in range(runs):
        for first, _again, _changed in shots:
            after, truth = painted(first, rng)
            errors.append(abs(compare(first, after).changed_fraction - truth))
    sizes = [len(thumbnail(decode(shot, "current"))) for triple in shots for shot in triple]
    return {
        "added_ms_p50": {k: round(statistics.median(v), 1) for k, v in cases.items()},
        "added_ms_p95": {k: round(statistics.quantiles(v, n=20)[18], 1) for k, v in cases.items()},
        "recall_decode_ms_p50_off_the_path": round(statistics.median(recall), 1),
        "changed_ms_p50_by_page": by_page,
        "changed_compare_exact_vs_sampled": exact_vs_sampled,
        "changed_fraction": fractions,
        "synthetic_pairs": len(errors),
        "synthetic_error_max": round(max(errors), 4),
        "synthetic_error_p50": round(statistics.median(errors), 4),
        "thumbnail_bytes_p50": statistics.median(sizes),
        "thumbnail_bytes_max": max(sizes),
    }


if __name__ == "__main__":
    main()
