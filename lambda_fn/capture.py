"""One stage's capture: at most two attempts, each a fresh browser under a hard deadline."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import Protocol

from lambda_fn.blank import BlankPolicy, Judgement, judge
from lambda_fn.browser import Chromium, Shot
from lambda_fn.config import Settings
from lambda_fn.errors import CaptureError
from lambda_fn.events import CaptureRequest, CaptureResult
from lambda_fn.failures import deadline_error
from lambda_fn.observability import logger
from lambda_fn.storage import UPLOAD_RESERVE_S, StoredImage
from lambda_fn.timing import PhaseTimer

MAX_ATTEMPTS = 2


class Store(Protocol):
    def put(
        self, job_id: str, stage: str, png: bytes, *, width: int, height: int
    ) -> StoredImage: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """The stage's result, and the last PNG taken (even a blank one) for people to look at."""

    result: CaptureResult
    png: bytes | None


@dataclass(slots=True)
class Attempt:
    timer: PhaseTimer
    shot: Shot | None = None
    judgement: Judgement | None = None
    stored: StoredImage | None = None


def blank_policy(settings: Settings) -> BlankPolicy:
    return BlankPolicy(
        min_bytes=settings.blank_min_bytes,
        max_uniform_fraction=settings.blank_max_uniform_fraction,
        content_aware=settings.blank_policy == "content-aware",
    )


async def capture(
    request: CaptureRequest,
    settings: Settings,
    *,
    chromium: Chromium,
    store: Store | None,
    deadline: float | None = None,
) -> Outcome:
    """Capture ``request.preview_url``; ``deadline`` (``time.monotonic``) may shorten the stage."""
    started = time.monotonic()
    stage_deadline = started + MAX_ATTEMPTS * settings.attempt_budget_s
    if deadline is not None:
        stage_deadline = min(stage_deadline, deadline)
    base = CaptureResult(job_id=request.job_id, stage=request.stage, status="failed")
    attempt = Attempt(PhaseTimer())
    for number in range(1, MAX_ATTEMPTS + 1):
        attempt_deadline = min(time.monotonic() + settings.attempt_budget_s, stage_deadline)
        attempt = Attempt(PhaseTimer())
        base = replace(base, attempts=number)
        try:
            await run_attempt(request, settings, chromium, store, attempt, attempt_deadline)
        except CaptureError as exc:
            log_failure(exc, number)
            base = replace(base, reason=exc.reason)
            if exc.transient and number < MAX_ATTEMPTS:
                continue
            return finish(base, attempt, started, status="failed")
        assert attempt.judgement is not None
        if not attempt.judgement.blank:
            return finish(base, attempt, started, status="captured", reason=None)
        log_discard(attempt.judgement, number)
        base = replace(base, reason=f"blank:{attempt.judgement.failed_check}")
        if number < MAX_ATTEMPTS:
            await asyncio.sleep(max(0.0, min(settings.blank_retry_delay_s, _left(stage_deadline))))
    return finish(base, attempt, started, status="discarded")


async def run_attempt(
    request: CaptureRequest,
    settings: Settings,
    chromium: Chromium,
    store: Store | None,
    attempt: Attempt,
    deadline: float,
) -> None:
    """Shoot, judge and (unless blank) store, filling ``attempt`` as each step succeeds."""
    timer = attempt.timer
    try:
        async with asyncio.timeout(_left(deadline)):
            attempt.shot = await chromium.shoot(request.preview_url, timer, proxy=None)
    except TimeoutError as exc:
        raise deadline_error(timer) from exc
    with timer.phase("judgement"):
        attempt.judgement = judge(attempt.shot.png, blank_policy(settings), attempt.shot.dom)
    if attempt.judgement.blank or store is None:
        return
    if _left(deadline) < UPLOAD_RESERVE_S:
        raise CaptureError(
            "no time left to upload", reason="budget_exhausted", phase="upload", transient=False
        )
    with timer.phase("upload"):
        attempt.stored = await asyncio.to_thread(
            store.put,
            request.job_id,
            request.stage,
            attempt.shot.png,
            width=attempt.judgement.width,
            height=attempt.judgement.height,
        )


def finish(base: CaptureResult, attempt: Attempt, started: float, **changes: object) -> Outcome:
    shot = attempt.shot
    stored = attempt.stored
    result = replace(
        base,
        snapshot_url=stored.url if stored else None,
        image=stored.info if stored else None,
        judgement=attempt.judgement,
        page=shot.page if shot else None,
        dom=shot.dom if shot else None,
        duration_ms=round((time.monotonic() - started) * 1000),
        timings_ms=dict(attempt.timer.ms),
        **changes,  # type: ignore[arg-type]
    )
    return Outcome(result=result, png=shot.png if shot else None)


def log_discard(judgement: Judgement, attempt: int) -> None:
    logger.warning(
        "blank capture discarded",
        extra={
            "attempt": attempt,
            "size_bytes": judgement.size_bytes,
            "uniform_fraction": judgement.uniform_fraction,
            "max_stddev": judgement.max_stddev,
            "failed_check": judgement.failed_check,
        },
    )


def log_failure(exc: CaptureError, attempt: int) -> None:
    logger.warning(
        "capture attempt failed",
        extra={
            "attempt": attempt,
            "reason": exc.reason,
            "phase": exc.phase,
            "transient": exc.transient,
            "error": str(exc)[:500],
        },
    )


def _left(deadline: float) -> float:
    return deadline - time.monotonic()
