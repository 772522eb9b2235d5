"""Soak and concurrency, each execution environment a separate interpreter running the real
handler against one local AWS emulator (tests/soak/environment.py).

A warm environment serving 200 mixed invocations must not grow its child processes, open file
descriptors or temp dir, and its RSS drift is reported and bounded. Four environments serving at
once on this 2-core machine must all answer correctly. ``make soak`` shows the figures (``-s``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from lambda_fn.capture.processes import find_processes
from lambda_fn.local.emulator import LocalAws
from tests.pages import RICH_PAGE, PageServer
from tests.stored import assert_nothing_lost, published

ROOT = Path(__file__).resolve().parents[2]
INVOCATIONS = 200
SAMPLE_EVERY = 20
# Cycle of kinds: 2 good, 1 blank, 1 failing (HTTP 404), 1 invalid → 80/40/40/40 over 200.
KINDS = ("good", "blank", "good", "failing", "invalid")
EXPECTED = {
    "good": ("captured", None),
    "blank": ("discarded", "blank:file_too_small"),
    "failing": ("failed", "http_404"),
    "invalid": ("rejected", "invalid_request:job_id"),
}
# White on white: readiness sees text at once, the pixels are blank.
BLANK_PAGE = b"<!doctype html><title>blank</title><p style='color:#fff'>nothing to see</p>"
MAX_RSS_DRIFT = 64 * 2**20  # the environment's interpreter plus its Playwright driver
MAX_FD_DRIFT = 2  # a keep-alive connection to the emulator may be open or not


def serve(pages: PageServer) -> None:
    pages.page("/", RICH_PAGE)
    pages.page("/blank", BLANK_PAGE)
    pages.page("/gone", b"<h1>gone</h1>", status=404)


def event_for(kind: str, index: int, pages: PageServer) -> dict[str, Any]:
    paths = {"good": "/", "blank": "/blank", "failing": "/gone", "invalid": "/"}
    job_id = f"soak/{index}" if kind == "invalid" else f"soak-{index:03d}"
    return {"job_id": job_id, "stage": "ready", "preview_url": pages.url(paths[kind])}


def environment_variables(aws: LocalAws, tmp: Path, **extra: str) -> dict[str, str]:
    # TMPDIR: everything the driver and Chromium write lands where the tests can see it.
    return {
        **os.environ,
        **aws.environment(),
        "ALLOW_PRIVATE_URLS": "true",
        "TMPDIR": str(tmp),
        **extra,
    }


def start_environment(
    events: list[Any], env: dict[str, str], workdir: Path, sample_every: int = 0
) -> subprocess.Popen[str]:
    events_file = workdir / f"events-{id(events)}.json"
    events_file.write_text(json.dumps(events))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.soak.environment", str(events_file), str(sample_every)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def finish(environment: subprocess.Popen[str]) -> tuple[list[dict[str, Any]], list[Any]]:
    """Its results and footprint samples, once it has exited cleanly."""
    try:
        stdout, stderr = environment.communicate(timeout=600)
    finally:
        if environment.poll() is None:
            environment.kill()
            environment.wait()
    assert environment.returncode == 0, stderr[-3000:]
    lines = stdout.splitlines()
    results = [json.loads(line[7:]) for line in lines if line.startswith("RESULT ")]
    samples = [json.loads(line[7:]) for line in lines if line.startswith("SAMPLE ")]
    return results, samples


def print_samples(samples: list[dict[str, int]]) -> None:
    print("\ninvocations  children  fds  tmp_bytes  tmp_entries  rss_MiB  children_rss_MiB")
    for s in samples:
        print(
            f"{s['invocations']:11d}  {s['children']:8d}  {s['fds']:3d}  {s['tmp_bytes']:9d}  "
            f"{s['tmp_entries']:11d}  {s['rss'] / 2**20:7.1f}  {s['children_rss'] / 2**20:16.1f}"
        )


def test_200_mixed_invocations_leak_no_process_fd_or_tmp_and_rss_stays_bounded(
    aws: LocalAws, pages: PageServer, private_tempdir: Path, tmp_path: Path
) -> None:
    serve(pages)
    kinds = [KINDS[index % len(KINDS)] for index in range(INVOCATIONS)]
    events = [event_for(kind, index, pages) for index, kind in enumerate(kinds)]
    env = environment_variables(aws, private_tempdir, BLANK_RETRY_DELAY_S="0")
    started = time.monotonic()
    results, samples = finish(start_environment(events, env, tmp_path, SAMPLE_EVERY))
    elapsed = time.monotonic() - started
    print_samples(samples)
    # The first sample (after 20 invocations) is the warm baseline: pools and caches are filled.
    baseline, last = samples[0], samples[-1]
    rss_drift = last["rss"] + last["children_rss"] - baseline["rss"] - baseline["children_rss"]
    print(
        f"{INVOCATIONS} invocations in {elapsed:.0f} s, cold start included; "
        f"RSS drift after warm-up {rss_drift / 2**20:+.1f} MiB"
    )
    for index, (kind, result) in enumerate(zip(kinds, results, strict=True)):
        assert (result["status"], result["reason"]) == EXPECTED[kind], (index, result)
    assert Counter(r["status"] for r in results) == {
        "captured": 80,
        "discarded": 40,
        "failed": 40,
        "rejected": 40,
    }
    assert (pages.hits["/"], pages.hits["/blank"], pages.hits["/gone"]) == (80, 80, 40)
    assert {s["children"] for s in samples} == {baseline["children"]}  # the driver alone
    assert max(s["fds"] for s in samples) - baseline["fds"] <= MAX_FD_DRIFT
    assert {(s["tmp_bytes"], s["tmp_entries"]) for s in samples} == {(0, 0)}
    assert rss_drift < MAX_RSS_DRIFT
    assert_nothing_lost(aws, results)
    assert len(published(aws)) == INVOCATIONS
    assert find_processes(str(private_tempdir)) == []


def test_four_environments_at_once_all_answer_correctly_and_capture_a_shared_stage_once(
    aws: LocalAws, pages: PageServer, private_tempdir: Path, tmp_path: Path
) -> None:
    serve(pages)
    pages.page("/shared", RICH_PAGE.replace(b"Todo dashboard", b"Shared dashboard"))
    # The same stage delivered to all four at once (a redelivered event), then each its own
    # good, blank and failing stages.
    shared = {"job_id": "shared-job", "stage": "ready", "preview_url": pages.url("/shared")}
    batches = [
        [
            shared,
            {"job_id": f"job-{n}", "stage": "checks", "preview_url": pages.url("/")},
            {"job_id": f"job-{n}", "stage": "ready", "preview_url": pages.url("/blank")},
            {"job_id": f"job-{n}", "stage": "deploy", "preview_url": pages.url("/gone")},
        ]
        for n in range(4)
    ]
    env = environment_variables(
        aws, private_tempdir, BLANK_RETRY_DELAY_S="0", CAPTURE_STAGES="checks,ready,deploy"
    )
    started = time.monotonic()
    environments = [start_environment(batch, env, tmp_path) for batch in batches]
    outcomes = [finish(environment)[0] for environment in environments]
    print(f"\n4 environments at once, 16 invocations, {time.monotonic() - started:.1f} s")
    shared_results = [results[0] for results in outcomes]
    print("shared stage:", [(r["status"], r["reason"]) for r in shared_results])
    for n, results in enumerate(outcomes):
        assert [(r["job_id"], r["status"], r["reason"]) for r in results[1:]] == [
            (f"job-{n}", "captured", None),
            (f"job-{n}", "discarded", "blank:file_too_small"),
            (f"job-{n}", "failed", "http_404"),
        ]
    assert pages.hits["/shared"] == 1  # captured by exactly one environment
    [first] = [r for r in shared_results if r["status"] == "captured" and r["attempts"]]
    others = [r for r in shared_results if r is not first]
    # The others saw it in progress (skipped/duplicate) or replay its result.
    assert all(r == first or (r["status"], r["reason"]) == ("skipped", "duplicate") for r in others)
    own = [r for results in outcomes for r in results[1:]]
    assert_nothing_lost(aws, [first, *own])
    assert find_processes(str(private_tempdir)) == []
