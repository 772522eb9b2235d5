"""One execution environment of the function in a fresh process: import, init, then captures.

    python -m benchlib.lambda_process JOB_PREFIX URL... [--repeat N] [--cpus 0]

The environment (emulator endpoint, bucket, ALLOW_PRIVATE_URLS) comes from the benchmark. The
first capture is the cold one, started at once; with ``--repeat N`` the URLs are captured N more
times, warm, each when a line arrives on stdin (so the benchmark can open a measuring window).
``--cpus`` pins this process, and so the driver and every browser it starts, to those CPUs.
One JSON line per capture on stdout: the handler's wall milliseconds, phases, result summary.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("job_prefix")
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--repeat", type=int, default=0)
    parser.add_argument("--cpus", type=lambda text: {int(cpu) for cpu in text.split(",")})
    return parser.parse_args()


def timed_import(name: str) -> tuple[Any, float]:
    started = time.perf_counter()
    module = importlib.import_module(name)
    return module, (time.perf_counter() - started) * 1000


def summary(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": result["status"],
        "reason": result.get("reason"),
        "attempts": result.get("attempts"),
        "duration_ms": result.get("duration_ms"),
        "timings_ms": result.get("timings_ms") or {},
        "key": (result.get("image") or {}).get("key"),
    }


def main() -> None:
    args = parse_args()
    if args.cpus:
        os.sched_setaffinity(0, args.cpus)  # inherited by the driver and the browsers
    out: TextIO = sys.stdout
    _, imports_ms = timed_import("lambda_fn.service")  # every dependency the handler imports
    observability, _ = timed_import("lambda_fn.observability")
    with Path(os.devnull).open("w") as devnull, contextlib.redirect_stdout(devnull):  # EMF metrics
        handler_log = observability.logger.registered_handler
        if isinstance(handler_log, logging.StreamHandler):
            handler_log.setStream(devnull)
        handler, init_ms = timed_import("lambda_fn.handler")  # settings, clients, driver
        try:
            run_captures(handler, args, out, {"imports_ms": imports_ms, "init_ms": init_ms})
        finally:
            handler.SERVICE.close()


def run_captures(
    handler: Any, args: argparse.Namespace, out: TextIO, first: dict[str, Any]
) -> None:
    from lambda_fn.local.context import LocalContext

    urls = list(args.urls) + list(args.urls) * args.repeat
    for number, url in enumerate(urls):
        if number > 0 and not sys.stdin.readline():
            return  # the benchmark stopped early
        event = {"job_id": f"{args.job_prefix}-{number}", "stage": "ready", "preview_url": url}
        started = time.perf_counter()
        result = handler.handler(event, LocalContext())
        wall_ms = (time.perf_counter() - started) * 1000
        line = {
            "url": url,
            "cold": number == 0,
            "wall_ms": wall_ms,
            **summary(result),
        }
        if number == 0:
            line.update(first)
        out.write(json.dumps(line) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
