"""The four ways of getting a judged, stored screenshot that the benchmark compares.

warm    this service's handler, called in the benchmark's process (driver kept, browser per shot)
cold    this service in a new process per capture: interpreter, imports, init, first capture
recipe  the common Lambda recipe: new driver, launch, goto "load", sleep 1 s, screenshot,
        a stddev check, put_object
floor   the headless shell's own ``--screenshot`` as one process (no judgement, no upload)
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psutil
from PIL import Image, ImageStat
from playwright.async_api import async_playwright

from benchlib.helpers import MemorySampler, read_json_line, start_module, stop
from benchlib.site import Page

EXECUTABLE = "/usr/bin/chromium-headless-shell"
# What screenshot recipes for Lambda pass (the same browser set-up as the service's, minus the
# service's own extras); the floor gets the flags the brief names.
RECIPE_ARGS = (
    "--no-sandbox",
    "--no-zygote",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)
FLOOR_ARGS = (
    "--window-size=1280,800",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)
RECIPE_SLEEP_S = 1.0
RECIPE_MIN_STDDEV = 5.0  # the usual "is it blank" check: almost no variation in any channel
RECIPE_MIN_BYTES = 5120
CAPTURE_TIMEOUT_S = 60


@dataclass
class Shot:
    """One measured capture."""

    variant: str
    page: str
    wall_ms: float
    cpu_ms: float
    status: str
    complete: bool  # shows what the page shows when done (blank page: judged blank)
    memory: dict[str, float] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)  # phases, and cold start parts
    judge_ms: float | None = None
    png_bytes: int | None = None
    png: bytes | None = field(default=None, repr=False)  # kept for the judgement timing

    def as_dict(self) -> dict[str, Any]:
        fields = dict(vars(self))
        fields.pop("png")
        return fields


@dataclass
class Lab:
    """What every variant needs: the site, the emulator, the sampler, a scratch folder."""

    base_url: str
    aws_env: dict[str, str]
    sampler: MemorySampler
    scratch: Path
    warm: WarmService | None = None
    s3: Any = None

    def __post_init__(self) -> None:
        self.s3 = boto3.client(
            "s3",
            endpoint_url=self.aws_env["AWS_ENDPOINT_URL"],
            region_name=self.aws_env["AWS_DEFAULT_REGION"],
            aws_access_key_id=self.aws_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.aws_env["AWS_SECRET_ACCESS_KEY"],
        )

    @property
    def bucket(self) -> str:
        return self.aws_env["SCREENSHOTS_BUCKET"]

    def url(self, page: Page) -> str:
        return self.base_url + page.path

    def stored_png(self, key: str | None) -> bytes | None:
        if not key:
            return None
        return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())


def function_environment(aws_env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **aws_env, "ALLOW_PRIVATE_URLS": "true"}


class WarmService:
    """The real handler module, imported once in this process (its init runs here)."""

    def __init__(self, aws_env: dict[str, str]) -> None:
        os.environ.update(function_environment(aws_env))
        self.devnull = Path(os.devnull).open("w")  # noqa: SIM115 - closed in close()
        observability = importlib.import_module("lambda_fn.observability")
        handler_log = observability.logger.registered_handler
        if isinstance(handler_log, logging.StreamHandler):
            handler_log.setStream(self.devnull)  # one JSON log line per invoke, not measured
        with contextlib.redirect_stdout(self.devnull):
            self.module = importlib.import_module("lambda_fn.handler")
        self.context_type = importlib.import_module("lambda_fn.local.context").LocalContext
        self.driver_pids = tuple(
            child.pid for child in psutil.Process().children() if child.name().startswith("node")
        )

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        with contextlib.redirect_stdout(self.devnull):  # EMF metrics are printed
            result: dict[str, Any] = self.module.handler(event, self.context_type())
        return result

    def close(self) -> None:
        self.module.SERVICE.close()
        self.devnull.close()


def judged_complete(page: Page, status: str, png: bytes | None) -> bool:
    if page.blank:
        return status == "discarded"
    return status == "captured" and png is not None and page.is_complete(png)


@contextlib.contextmanager
def measured(lab: Lab, *, root: bool, skip: tuple[int, ...] = ()) -> Iterator[dict[str, float]]:
    """Wall time of the enclosed capture; its CPU time and peak memory from the sampler."""
    with lab.sampler.window(root=root, skip=skip) as peaks:
        started = time.perf_counter()
        numbers: dict[str, float] = {"_started": started}
        yield numbers
        numbers.setdefault("wall_ms", (time.perf_counter() - started) * 1000)
    numbers.update(peaks)


def run_warm(lab: Lab, page: Page, job_id: str) -> Shot:
    assert lab.warm is not None
    event = {"job_id": job_id, "stage": "ready", "preview_url": lab.url(page)}
    with measured(lab, root=True) as numbers:
        result = lab.warm.invoke(event)
    return service_shot(lab, page, "warm", numbers, result)


def service_shot(
    lab: Lab, page: Page, variant: str, numbers: dict[str, float], result: dict[str, Any]
) -> Shot:
    key = result.get("key") or (result.get("image") or {}).get("key")
    png = lab.stored_png(key)
    timings = dict(result.get("timings_ms") or {})
    duration = result.get("duration_ms")
    if duration is not None:
        timings["capture_total"] = duration
    return Shot(
        variant=variant,
        page=page.name,
        wall_ms=numbers["wall_ms"],
        cpu_ms=numbers["cpu_ms"],
        status=f"{result['status']}:{result.get('reason')}",
        complete=judged_complete(page, result["status"], png),
        memory=memory_of(numbers),
        timings_ms=timings,
        judge_ms=timings.get("judgement"),
        png_bytes=len(png) if png else None,
        png=png,
    )


def memory_of(numbers: dict[str, float]) -> dict[str, float]:
    return {key: value for key, value in numbers.items() if key.endswith(("_mb", "_max"))}


def run_cold(lab: Lab, page: Page, job_id: str) -> Shot:
    """Spawn → the first result line is the cold capture: what Lambda bills for a cold start."""
    env = function_environment(lab.aws_env)
    with measured(lab, root=False) as numbers:
        process = start_module("benchlib.lambda_process", job_id, lab.url(page), env=env)
        try:
            line = read_json_line(process)
            numbers["wall_ms"] = (time.perf_counter() - numbers["_started"]) * 1000
        finally:
            stop(process)
    result = {**line, "timings_ms": cold_timings(line, numbers["wall_ms"])}
    return service_shot(lab, page, "cold", numbers, result)


def cold_timings(line: dict[str, Any], wall_ms: float) -> dict[str, float]:
    """The cold start's parts: interpreter start, imports, init (settings, clients, driver), the
    first invocation; and that invocation's phases."""
    invoke_ms = float(line["wall_ms"])
    imports_ms, init_ms = float(line["imports_ms"]), float(line["init_ms"])
    return {
        **line["timings_ms"],
        "interpreter": wall_ms - imports_ms - init_ms - invoke_ms,
        "imports": imports_ms,
        "init": init_ms,
        "invoke": invoke_ms,
    }


async def recipe_screenshot(url: str) -> bytes:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=EXECUTABLE, args=RECIPE_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            await page.goto(url, wait_until="load", timeout=CAPTURE_TIMEOUT_S * 1000)
            await asyncio.sleep(RECIPE_SLEEP_S)
            return await page.screenshot()
        finally:
            await browser.close()


def recipe_is_blank(png: bytes) -> bool:
    stddev = ImageStat.Stat(Image.open(io.BytesIO(png)).convert("RGB")).stddev
    return len(png) < RECIPE_MIN_BYTES or max(stddev) < RECIPE_MIN_STDDEV


def run_recipe(lab: Lab, page: Page, job_id: str) -> Shot:
    # The service's idle driver is left out: the recipe's own driver is counted.
    skip = lab.warm.driver_pids if lab.warm else ()
    with measured(lab, root=True, skip=skip) as numbers:
        png = asyncio.run(recipe_screenshot(lab.url(page)))
        judged = time.perf_counter()
        blank = recipe_is_blank(png)
        judge_ms = (time.perf_counter() - judged) * 1000
        if not blank:
            lab.s3.put_object(
                Bucket=lab.bucket, Key=f"recipe/{job_id}.png", Body=png, ContentType="image/png"
            )
    complete = blank if page.blank else (not blank and page.is_complete(png))
    return Shot(
        variant="recipe",
        page=page.name,
        wall_ms=numbers["wall_ms"],
        cpu_ms=numbers["cpu_ms"],
        status="blank" if blank else "stored",
        complete=complete,
        memory=memory_of(numbers),
        judge_ms=judge_ms,
        png_bytes=len(png),
        png=png,
    )


def run_floor(lab: Lab, page: Page, job_id: str) -> Shot:
    output = lab.scratch / f"{job_id}.png"
    command = [EXECUTABLE, f"--screenshot={output}", *FLOOR_ARGS, lab.url(page)]
    with measured(lab, root=False) as numbers:
        subprocess.run(
            command,
            check=True,
            timeout=CAPTURE_TIMEOUT_S,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    png = output.read_bytes()
    output.unlink()
    return Shot(
        variant="floor",
        page=page.name,
        wall_ms=numbers["wall_ms"],
        cpu_ms=numbers["cpu_ms"],
        status="written",
        complete=page.is_complete(png),
        memory=memory_of(numbers),
        png_bytes=len(png),
        png=png,
    )


Runner = Callable[[Lab, Page, str], Shot]
RUNNERS: dict[str, Runner] = {
    "warm": run_warm,
    "cold": run_cold,
    "recipe": run_recipe,
    "floor": run_floor,
}


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="bench-floor-")
