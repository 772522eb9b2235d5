"""Command line.

``python -m lambda_fn shoot URL -o out.png``: capture and judge one URL, no AWS.
``python -m lambda_fn invoke EVENT.json [--emulate-aws] [-o out.png]``: run the real handler on an
event, like ``sam local invoke`` without Docker; ``--emulate-aws`` runs it against a local AWS
emulator and writes the stored PNG next to the event file (or to ``-o``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from lambda_fn.capture.browser import Chromium, find_executable
from lambda_fn.capture.stage import Outcome, capture
from lambda_fn.config import Settings
from lambda_fn.errors import InvalidRequestError, ScreenshotError
from lambda_fn.events import CaptureResult, Status, parse_request
from lambda_fn.local.context import LocalContext
from lambda_fn.local.emulator import LocalAws, local_aws
from lambda_fn.observability import logger


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Logs and metrics go to stderr here, so stdout carries only the result JSON.
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)
    try:
        if args.command == "shoot":
            return shoot(args.url, args.output)
        return invoke(args.event, emulate_aws=args.emulate_aws, output=args.output)
    except ScreenshotError as exc:  # bad input or configuration: a result, not a traceback
        status: Status = "rejected" if isinstance(exc, InvalidRequestError) else "failed"
        _print(
            {**CaptureResult(None, None, status, reason=exc.reason).as_dict(), "error": str(exc)}
        )
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lambda_fn")
    commands = parser.add_subparsers(dest="command", required=True)
    shoot_cmd = commands.add_parser("shoot", help="capture and judge one URL (no AWS)")
    shoot_cmd.add_argument("url")
    shoot_cmd.add_argument("-o", "--output", type=Path, help="where to write the last PNG taken")
    invoke_cmd = commands.add_parser("invoke", help="run the handler on an event file")
    invoke_cmd.add_argument("event", type=Path)
    invoke_cmd.add_argument(
        "--emulate-aws", action="store_true", help="use a local AWS emulator on loopback"
    )
    invoke_cmd.add_argument("-o", "--output", type=Path, help="where to write the stored PNG")
    return parser


def shoot(url: str, output: Path | None) -> int:
    outcome = asyncio.run(shoot_url(url, Settings.from_env(os.environ)))
    if output and outcome.png is not None:
        output.write_bytes(outcome.png)
    _print(outcome.result.as_dict())
    return 0 if outcome.result.status == "captured" else 1


async def shoot_url(url: str, settings: Settings) -> Outcome:
    chromium = Chromium(find_executable(settings.chromium_executable))
    started = time.perf_counter()
    await chromium.start()
    driver_ms = round((time.perf_counter() - started) * 1000)
    try:
        request = parse_request({"job_id": "local", "stage": "shoot", "preview_url": url})
        outcome = await capture(request, settings, chromium=chromium, store=None)
    finally:
        await chromium.stop()
    outcome.result.timings_ms["driver"] = driver_ms
    return outcome


def invoke(event_path: Path, *, emulate_aws: bool, output: Path | None) -> int:
    try:
        event = json.loads(event_path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(str(exc), reason="invalid_request:event") from exc
    if not emulate_aws:
        result = run_handler(event)
    else:
        with local_aws() as aws:
            os.environ.update(aws.environment())
            result = run_handler(event)
            png_path = output or event_path.with_suffix(".png")
            if save_stored_png(aws, result, png_path):
                result = {**result, "local_png": str(png_path.resolve())}
    _print(result)
    return 0 if result["status"] in ("captured", "skipped") else 1


def run_handler(event: Any) -> dict[str, Any]:
    """Cold-start the real handler module in this process and invoke it once."""
    with contextlib.redirect_stdout(sys.stderr):  # EMF metrics are printed
        module = importlib.import_module("lambda_fn.handler")
        try:
            result: dict[str, Any] = module.handler(event, LocalContext())
        finally:
            module.SERVICE.close()
    return result


def save_stored_png(aws: LocalAws, result: dict[str, Any], path: Path) -> bool:
    if not result.get("image"):
        return False
    body = aws.client("s3").get_object(Bucket=aws.bucket, Key=result["image"]["key"])["Body"]
    path.write_bytes(body.read())
    return True


def _print(result: dict[str, Any]) -> None:
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    raise SystemExit(main())
