"""Capture latency, CPU and memory of this service side by side with the common recipe and the
raw headless shell, on fixed local pages; then judgement time, a drift check, the CPU scaling
that the cost model needs, and the cost per 1,000 captures.

    .venv/bin/python benchmarks/bench.py [--quick] [--rounds N] [--drift N] [--profile]

Variants (see benchlib/variants.py): warm, cold, recipe and floor. Each round runs
every variant on a page before moving to the next page, rotating the variants' order, so machine
load hits them alike. Prints Markdown tables; writes benchmarks/results/latest.json (and .md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
from benchlib import cost, report
from benchlib.environment import LoadWatch, describe_machine
from benchlib.helpers import memory_sampler, read_json_line, remote_side, start_module, stop
from benchlib.render import render
from benchlib.site import CONTENT_PAGES, PAGES
from benchlib.variants import (
    RUNNERS,
    Lab,
    Shot,
    WarmService,
    run_warm,
    scratch_dir,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
VARIANTS = ("warm", "cold", "recipe", "floor")


@dataclass(frozen=True, slots=True)
class Plan:
    rounds: int
    blank_rounds: int
    drift: int
    judge_runs: int
    scaling_runs: int  # child processes per CPU setting
    scaling_repeat: int  # warm passes over the content pages in each
    profile: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        quick = args.quick
        return cls(
            rounds=args.rounds or (3 if quick else 10),
            blank_rounds=args.blank_rounds or (1 if quick else 3),
            drift=args.drift if args.drift is not None else (20 if quick else 100),
            judge_runs=10 if quick else 30,
            scaling_runs=1 if quick else 3,
            scaling_repeat=1 if quick else 2,
            profile=args.profile,
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a couple of minutes)")
    parser.add_argument("--rounds", type=int, help="rounds over the content pages (default 10)")
    parser.add_argument("--blank-rounds", type=int, help="rounds that include the blank page")
    parser.add_argument("--drift", type=int, help="warm captures in the drift check (default 100)")
    parser.add_argument("--profile", action="store_true", help="pyinstrument over warm captures")
    return parser.parse_args()


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def variant_order(plan: Plan, round_number: int) -> list[str]:
    shift = round_number % len(VARIANTS)
    return list(VARIANTS[shift:] + VARIANTS[:shift])


def warm_up(lab: Lab) -> None:
    """First-time costs (page cache, connection pools, the driver's JIT) stay out of the figures."""
    for page in CONTENT_PAGES:
        run_warm(lab, page, f"warmup-warm-{page.name}")
    for name in ("cold", "recipe", "floor"):
        RUNNERS[name](lab, CONTENT_PAGES[0], f"warmup-{name}")


def run_rounds(lab: Lab, plan: Plan, run_id: str) -> list[Shot]:
    shots: list[Shot] = []
    for number in range(plan.rounds):
        pages = PAGES if number < plan.blank_rounds else CONTENT_PAGES
        for page in pages:
            for name in variant_order(plan, number):
                job_id = f"{run_id}-{name}-{page.name}-{number}"
                shots.append(RUNNERS[name](lab, page, job_id))
        progress(f"round {number + 1}/{plan.rounds} done")
    return shots


def time_judgement(shots: list[Shot], runs: int) -> dict[str, Any]:
    """``judge()`` on one PNG of each page (the service's, else the floor's), ``runs`` times."""
    from lambda_fn.pictures.blank import BlankPolicy, judge

    pngs: dict[str, bytes] = {}
    for shot in shots:
        if shot.png is not None and (shot.variant == "warm" or shot.page not in pngs):
            pngs[shot.page] = shot.png
    timings: dict[str, Any] = {}
    for page, png in pngs.items():
        judge(png, BlankPolicy())
        values = []
        for _ in range(runs):
            started = time.perf_counter()
            judge(png, BlankPolicy())
            values.append((time.perf_counter() - started) * 1000)
        timings[page] = {
            "png_bytes": len(png),
            "p50_ms": round(report.p50(values), 2),
            "p95_ms": round(report.percentile(values, 0.95), 2),
        }
    return timings


def process_snapshot(lab: Lab) -> dict[str, float]:
    me = psutil.Process()
    drivers = [psutil.Process(pid) for pid in lab.warm.driver_pids] if lab.warm else []
    browsers = [child for child in me.children(recursive=True) if child.name().startswith("chrom")]
    profiles = list(Path(tempfile.gettempdir()).glob("preview-chromium-*"))
    return {
        "python_rss_mb": round(me.memory_info().rss / 2**20, 1),
        "driver_rss_mb": round(sum(d.memory_info().rss for d in drivers) / 2**20, 1),
        "open_fds": me.num_fds(),
        "threads": me.num_threads(),
        "browser_processes": len(browsers),
        "profile_dirs": len(profiles),
    }


def run_drift(lab: Lab, count: int, run_id: str) -> dict[str, Any] | None:
    if count < 2:
        return None
    before = process_snapshot(lab)
    python_rss: list[float] = []
    driver_rss: list[float] = []
    shots = []
    for number in range(count):
        page = CONTENT_PAGES[number % len(CONTENT_PAGES)]
        shot = run_warm(lab, page, f"{run_id}-drift-{number}")
        shot.png = None
        shots.append(shot)
        snapshot = process_snapshot(lab)
        python_rss.append(snapshot["python_rss_mb"])
        driver_rss.append(snapshot["driver_rss_mb"])
    after = process_snapshot(lab)
    window = max(1, min(10, count // 4))
    # Compare like with like: the same pages, in the same order, at the start and at the end.
    first = [shot.memory["browser_rss_mb"] for shot in shots[:window]]
    last = [shot.memory["browser_rss_mb"] for shot in shots[-window:]]
    return {
        "captures": count,
        "before": before,
        "after": after,
        "browser_rss_first_mb": round(report.mean(first), 1),
        "browser_rss_last_mb": round(report.mean(last), 1),
        "browser_rss_growth_mb": round(report.mean(last) - report.mean(first), 1),
        "python_rss_slope_kb_per_capture": round(report.linear_slope(python_rss) * 1024, 1),
        "driver_rss_slope_kb_per_capture": round(report.linear_slope(driver_rss) * 1024, 1),
        "python_rss_first_last_mb": [python_rss[0], python_rss[-1]],
        "driver_rss_min_max_mb": [min(driver_rss), max(driver_rss)],
        "driver_rss_by_quarter_mb": [driver_rss[(count * q) // 4 - 1] for q in (1, 2, 3, 4)],
        "wall_first_p50_ms": round(report.p50(s.wall_ms for s in shots[:window]), 1),
        "wall_last_p50_ms": round(report.p50(s.wall_ms for s in shots[-window:]), 1),
        "statuses": sorted({shot.status for shot in shots}),
    }


@contextmanager
def affinity(pids: list[int], cpus: set[int]) -> Iterator[None]:
    """Move every thread of ``pids`` to ``cpus`` for the block (the helpers out of CPU 0's way)."""
    saved: dict[int, set[int]] = {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            tid = int(task.name)
            try:
                saved[tid] = os.sched_getaffinity(tid)
                os.sched_setaffinity(tid, cpus)
            except OSError:
                continue
    try:
        yield
    finally:
        for tid, mask in saved.items():
            try:
                os.sched_setaffinity(tid, mask)
            except OSError:
                continue


def scaling_child(lab: Lab, plan: Plan, cpus: str | None, job_id: str) -> list[dict[str, Any]]:
    """One execution environment: its cold capture, then warm ones, each in a sampler window."""
    urls = [lab.url(page) for page in CONTENT_PAGES]
    extra = ["--cpus", cpus] if cpus else []
    args = [job_id, *urls, "--repeat", str(plan.scaling_repeat), *extra]
    skip = lab.warm.driver_pids if lab.warm else ()
    env = {**os.environ, "ALLOW_PRIVATE_URLS": "true"}
    found: list[dict[str, Any]] = []
    with lab.sampler.window(root=False, skip=skip) as peaks:
        started = time.perf_counter()
        process = start_module("benchlib.lambda_process", *args, env=env)
        line = read_json_line(process)
        line["wall_ms"] = (time.perf_counter() - started) * 1000  # spawn to result
    try:
        found.append({**line, "cpu_ms": peaks["cpu_ms"]})
        assert process.stdin is not None
        for _ in range(len(urls) * (plan.scaling_repeat + 1) - 1):
            with lab.sampler.window(root=False, skip=skip) as peaks:
                process.stdin.write("go\n")
                process.stdin.flush()
                line = read_json_line(process)
            found.append({**line, "cpu_ms": peaks["cpu_ms"]})
    finally:
        stop(process)
    return found


def run_scaling(lab: Lab, plan: Plan, helpers: list[int], run_id: str) -> dict[str, Any]:
    """The same captures with the function's processes on one CPU and on both."""
    lines: dict[str, list[dict[str, Any]]] = {"1": [], "2": []}
    for number in range(plan.scaling_runs):
        order = (("1", "0"), ("2", None)) if number % 2 == 0 else (("2", None), ("1", "0"))
        for label, cpus in order:
            job_id = f"{run_id}-scaling-{label}-{number}"
            if cpus:
                with affinity([os.getpid(), *helpers], {1}):
                    lines[label] += scaling_child(lab, plan, cpus, job_id)
            else:
                lines[label] += scaling_child(lab, plan, None, job_id)
    return {label: summarise_scaling(found) for label, found in lines.items()}


def summarise_scaling(lines: list[dict[str, Any]]) -> dict[str, Any]:
    def numbers(cold: bool) -> dict[str, float]:
        chosen = [line for line in lines if line["cold"] == cold and line["status"] == "captured"]
        walls = [line["wall_ms"] for line in chosen]
        busy = [min(1.0, line["cpu_ms"] / line["wall_ms"]) for line in chosen]
        return {
            "n": len(chosen),
            "p50_ms": round(report.p50(walls), 1),
            "mean_ms": round(report.mean(walls), 1),
            "cpu_p50_ms": round(report.p50(line["cpu_ms"] for line in chosen), 1),
            "busy_share": round(report.p50(busy), 3),
        }

    return {"warm": numbers(False), "cold": numbers(True)}


def build_cost(scaling: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    measured = {
        kind: {
            "one_cpu_ms": scaling["1"][kind]["mean_ms"],
            "two_cpu_ms": scaling["2"][kind]["mean_ms"],
            "busy_share": scaling["1"][kind]["busy_share"],
        }
        for kind in ("warm", "cold")
    }
    peak = max(
        entry["total_pss_max_mb"]
        for by_variant in summary.values()
        for name, entry in by_variant.items()
        if name in ("warm", "cold")
    )
    return {"measured": measured, **cost.cost_model(measured, peak)}


def profile_warm(lab: Lab, captures: int) -> str:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    for number in range(captures):
        page = CONTENT_PAGES[number % len(CONTENT_PAGES)]
        run_warm(lab, page, f"profile-{time.time_ns()}-{number}")
    profiler.stop()
    return str(profiler.output_text(unicode=False, color=False))


@contextmanager
def private_temp_dir() -> Iterator[Path]:
    """Every temporary file of this run (browser profiles, the floor's PNGs) in one folder of
    its own: leftovers are counted exactly (other runs on the machine use /tmp too) and removed."""
    folder = Path(tempfile.mkdtemp(prefix="preview-bench-"))
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = tempfile.tempdir = str(folder)
    try:
        yield folder
    finally:
        if saved[0] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[0]
        tempfile.tempdir = saved[1]
        shutil.rmtree(folder, ignore_errors=True)


def measure(plan: Plan) -> dict[str, Any]:
    run_id = f"bench-{time.strftime('%Y%m%d%H%M%S')}"
    started = time.perf_counter()
    load_before = os.getloadavg()
    watch = LoadWatch()
    watch.mark("start")
    results: dict[str, Any] = {}
    with (
        private_temp_dir(),
        remote_side() as remote,
        memory_sampler([remote.pid]) as sampler,
        scratch_dir() as scratch,
    ):
        lab = Lab(remote.base_url, remote.aws_env, sampler, Path(scratch))
        lab.warm = WarmService(remote.aws_env)
        try:
            progress("warming up")
            warm_up(lab)
            shots = run_rounds(lab, plan, run_id)
            progress("judgement, drift")
            results["judgement"] = time_judgement(shots, plan.judge_runs)
            for shot in shots:
                shot.png = None  # the drift check measures this process: keep no PNGs
            results["drift"] = run_drift(lab, plan.drift, run_id)
            progress("CPU scaling")
            watch.mark("scaling")
            results["scaling"] = run_scaling(lab, plan, [remote.pid, sampler.process.pid], run_id)
            watch.mark("scaling done")
            if plan.profile:
                progress("profiling")
                results["profile"] = profile_warm(lab, 20)
        finally:
            lab.warm.close()
    watch.mark("end")
    results["shots"] = shots
    results["foreign_cpu_share"] = {
        "run": watch.foreign_share("start", "end"),
        "scaling": watch.foreign_share("scaling", "scaling done"),
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["load_average"] = {"before": load_before, "after": os.getloadavg()}
    return results


def analyse(plan: Plan, measured: dict[str, Any]) -> dict[str, Any]:
    shots: list[Shot] = measured["shots"]
    grouped = report.group(shots)
    summary = {
        page: {name: report.summarise(group) for name, group in by_variant.items()}
        for page, by_variant in grouped.items()
    }
    content = [page.name for page in CONTENT_PAGES]
    every = [page.name for page in PAGES]
    found = report.ratios(summary, content, every)
    breakdowns = {
        variant: {page: report.phase_breakdown(grouped[page][variant]) for page in every}
        for variant in report.SERVICE_VARIANTS
        if all(variant in grouped[page] for page in every)
    }
    cold_parts = {page: report.cold_breakdown(grouped[page]["cold"]) for page in every}
    return {
        "plan": asdict(plan),
        "machine": describe_machine(),
        "seconds": measured["seconds"],
        "load_average": measured["load_average"],
        "foreign_cpu_share": measured["foreign_cpu_share"],
        "summary": summary,
        "ratios": found,
        "breakdown": breakdowns,
        "cold_breakdown": cold_parts,
        "judgement": measured["judgement"],
        "drift": measured["drift"],
        "scaling": measured["scaling"],
        "cost": build_cost(measured["scaling"], summary),
        "targets": report.judge_targets(summary, found, measured["judgement"], measured["drift"]),
        "shots": [shot.as_dict() for shot in shots],
    }


def main() -> None:
    plan = Plan.from_args(parse_args())
    measured = measure(plan)
    analysis = analyse(plan, measured)
    text = render(analysis, measured.get("profile"))
    print(text)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "latest.json").write_text(json.dumps(analysis, indent=1) + "\n")
    (RESULTS_DIR / "latest.md").write_text(text + "\n")
    if measured.get("profile"):
        (RESULTS_DIR / "profile-warm.txt").write_text(measured["profile"])
    progress(f"wrote {RESULTS_DIR / 'latest.json'} ({measured['seconds']} s)")


if __name__ == "__main__":
    main()
