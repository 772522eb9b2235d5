"""The function's logic: request → gates → capture → breaker → result event. Built once per
execution environment (settings, clients, event loop, Playwright driver); each capture still
launches its own browser."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from lambda_fn.capture.browser import Chromium, find_executable
from lambda_fn.capture.stage import Outcome, capture
from lambda_fn.config import Settings
from lambda_fn.errors import InvalidRequestError
from lambda_fn.events import CaptureRequest, CaptureResult, parse_request
from lambda_fn.observability import logger, metrics
from lambda_fn.state.breaker import Breaker
from lambda_fn.state.idempotency import OncePerStage
from lambda_fn.state.results import ResultPublisher
from lambda_fn.state.storage import S3Store, make_s3_client
from lambda_fn.state.timeline import LastCaptures, Timeline

# State and event clients answer in milliseconds or not at all: fail fast, then fail open.
FAST_CLIENT = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2})
# Kept back from the Lambda timeout for teardown, breaker and publishing after the capture.
WRAP_UP_S = 5.0


@dataclass
class Service:
    settings: Settings
    chromium: Chromium
    loop: asyncio.AbstractEventLoop
    store: S3Store | None
    breaker: Breaker | None
    once: OncePerStage | None
    publisher: ResultPublisher | None
    timeline: Timeline | None

    @classmethod
    def start(cls, settings: Settings) -> Service:
        """Validate what capturing needs, create every client and start the Playwright driver."""
        if settings.screenshot_enabled:
            settings.require_storage()
        loop = asyncio.new_event_loop()
        chromium = Chromium(find_executable(settings.chromium_executable))
        # The clients are built (botocore reads its service models) while this thread only
        # waits for the driver's Node process to start: the two overlap in a cold start.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="init") as pool:
            clients = pool.submit(_clients, settings)
            loop.run_until_complete(chromium.start())
            return cls(settings=settings, chromium=chromium, loop=loop, **clients.result())

    def close(self) -> None:
        """Stop the Playwright driver and the event loop (tests, and the CLI's local invoke)."""
        self.loop.run_until_complete(self.chromium.stop())
        self.loop.close()

    def handle(self, event: object, context: LambdaContext) -> dict[str, Any]:
        try:
            request = parse_request(event)
        except InvalidRequestError as exc:
            return self._finish(CaptureResult(None, None, "rejected", reason=exc.reason).as_dict())
        logger.append_keys(job_id=request.job_id, stage=request.stage)
        skip = self._skip_reason(request)
        if skip is not None:
            return self._finish(_skipped(request, skip))
        if self.once is None:
            return self._finish(self._capture(request, context))
        result = self.once.run(lambda r: self._capture(r, context), request, context)
        return self._finish(result)

    def _skip_reason(self, request: CaptureRequest) -> str | None:
        if not self.settings.screenshot_enabled:
            return "disabled"
        if request.stage not in self.settings.capture_stages:
            return "stage_not_captured"
        if self.breaker is not None and self.breaker.is_open(request.job_id):
            return "circuit_open"
        return None

    def _capture(self, request: CaptureRequest, context: LambdaContext) -> dict[str, Any]:
        deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - WRAP_UP_S
        outcome: Outcome = self.loop.run_until_complete(
            capture(
                request,
                self.settings,
                chromium=self.chromium,
                store=self.store,
                timeline=self.timeline,
                deadline=deadline,
            )
        )
        result = outcome.result.as_dict()
        if self.timeline is not None and outcome.kept is not None:
            finishing = time.monotonic()
            result = self.loop.run_until_complete(
                self.timeline.finish(result, outcome.kept, browser=self.chromium.version)
            )
            result["timings_ms"]["beside"] = round((time.monotonic() - finishing) * 1000)
        if self.breaker is not None:
            self.breaker.record(request.job_id, outcome.result.status)
        return result

    def _finish(self, result: dict[str, Any]) -> dict[str, Any]:
        record_metrics(result)
        if self.publisher is not None:
            self.publisher.publish(result)
        logger.info("stage result", extra={"result": result})
        return result


def _skipped(request: CaptureRequest, reason: str) -> dict[str, Any]:
    return CaptureResult(request.job_id, request.stage, "skipped", reason=reason).as_dict()


def _clients(settings: Settings) -> dict[str, Any]:
    clients: dict[str, Any] = {
        "store": None,
        "breaker": None,
        "once": None,
        "publisher": None,
        "timeline": None,
    }
    if settings.screenshots_bucket and settings.screenshots_cdn_domain:
        clients["store"] = S3Store(
            make_s3_client(settings.aws_region),
            bucket=settings.screenshots_bucket,
            cdn_domain=settings.screenshots_cdn_domain,
        )
    last = None
    if settings.state_table:
        dynamodb = boto3.client("dynamodb", config=FAST_CLIENT, region_name=settings.aws_region)
        table = settings.state_table
        clients["breaker"] = Breaker(dynamodb, table=table, threshold=settings.breaker_threshold)
        clients["once"] = OncePerStage(dynamodb, table=table)
        last = LastCaptures(dynamodb, table=table)
    if clients["store"] is not None:
        clients["timeline"] = Timeline(clients["store"], last)
    if settings.result_bus:
        events = boto3.client("events", config=FAST_CLIENT, region_name=settings.aws_region)
        clients["publisher"] = ResultPublisher(events, bus=settings.result_bus)
    return clients


def record_metrics(result: dict[str, Any]) -> None:
    metrics.add_metric(name=str(result["status"]).capitalize(), unit="Count", value=1)
    if result.get("attempts"):
        metrics.add_metric(name="Attempts", unit="Count", value=result["attempts"])
        metrics.add_metric(name="CaptureDuration", unit="Milliseconds", value=result["duration_ms"])
