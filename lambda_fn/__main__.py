"""Command line: ``python -m lambda_fn shoot URL -o out.png``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from lambda_fn.browser import Chromium, find_executable
from lambda_fn.capture import Outcome, capture
from lambda_fn.config import Settings
from lambda_fn.events import CaptureRequest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lambda_fn")
    commands = parser.add_subparsers(dest="command", required=True)
    shoot = commands.add_parser("shoot", help="capture and judge one URL (no AWS)")
    shoot.add_argument("url")
    shoot.add_argument("-o", "--output", type=Path, help="where to write the last PNG taken")
    args = parser.parse_args(argv)
    outcome = asyncio.run(shoot_url(args.url, Settings.from_env(os.environ)))
    if args.output and outcome.png is not None:
        args.output.write_bytes(outcome.png)
    json.dump(outcome.result.as_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if outcome.result.status == "captured" else 1


async def shoot_url(url: str, settings: Settings) -> Outcome:
    chromium = Chromium(find_executable(settings.chromium_executable))
    started = time.perf_counter()
    await chromium.start()
    driver_ms = round((time.perf_counter() - started) * 1000)
    try:
        request = CaptureRequest(job_id="local", stage="shoot", preview_url=url)
        outcome = await capture(request, settings, chromium=chromium, store=None)
    finally:
        await chromium.stop()
    outcome.result.timings_ms["driver"] = driver_ms
    return outcome


if __name__ == "__main__":
    raise SystemExit(main())
