"""One stage's capture: at most two attempts, each a fresh browser under a hard deadline."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, replace
from typing import Protocol

from lambda_fn.blank import BlankPolicy, Judgement, judge
from lambda_fn.browser import Chromium, Shot
from lambda_fn.config import Settings
from lambda_fn.egress import Connector, EgressProxy, open_tcp
from lambda_fn.errors import CaptureError, UrlBlockedError
from lambda_fn.events import CaptureRequest, CaptureResult
from lambda_fn.failures import deadline_error, egress_error
from lambda_fn.guard import Resolver, UrlPolicy, check_final_url, check_url, resolve_host
from lambda_fn.observability import logger
from lambda_fn.storage import UPLOAD_RESERVE_S, StoredImage
from lambda_fn.timeline import Draft, Timeline
from lambda_fn.timing import PhaseTimer

MAX_ATTEMPTS = 2


class Store(Protocol):
    def put(
        self, job_id: str, stage: str, png: bytes, *, width: int, height: int
    ) -> StoredImage: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """The stage's result, the last PNG taken (even a blank one) for people to look at, and the
    timeline's draft for the stored PNG."""

    result: CaptureResult
    png: bytes | None
    draft: Draft | None = None


@dataclass(slots=True)
class Attempt:
    timer: PhaseTimer
    shot: Shot | None = None
    judgement: Judgement | None = None
    stored: StoredImage | None = None
    draft: Draft | None = None
    blocked_requests: int = 0


@dataclass(frozen=True, slots=True)
class Network:
    """How names are resolved and connections made: the system's, or a test's stand-ins."""

    resolve: Resolver = resolve_host
    connect: Connector = open_tcp


@dataclass(frozen=True, slots=True)
class Plan:
    """What every attempt of one stage shares."""

    request: CaptureRequest
    url: str  # the canonical form of the checked preview URL
    settings: Settings
    policy: UrlPolicy
    chromium: Chromium
    store: Store | None
    timeline: Timeline | None
    network: Network


SYSTEM_NETWORK = Network()


def blank_policy(settings: Settings) -> BlankPolicy:
    return BlankPolicy(
        min_bytes=settings.blank_min_bytes,
        max_uniform_fraction=settings.blank_max_uniform_fraction,
        content_aware=settings.blank_policy == "content-aware",
    )


def url_policy(settings: Settings) -> UrlPolicy:
    return UrlPolicy(
        allowed_hosts=settings.allowed_url_hosts, allow_private=settings.allow_private_urls
    )


async def capture(
    request: CaptureRequest,
    settings: Settings,
    *,
    chromium: Chromium,
    store: Store | None,
    timeline: Timeline | None = None,
    deadline: float | None = None,
    network: Network = SYSTEM_NETWORK,
) -> Outcome:
    """Capture ``request.preview_url``; ``deadline`` (``time.monotonic``) may shorten the stage."""
    started = time.monotonic()
    base = CaptureResult(job_id=request.job_id, stage=request.stage, status="failed")
    policy = url_policy(settings)
    try:
        checked = await asyncio.to_thread(check_url, request.preview_url, policy, network.resolve)
    except UrlBlockedError as exc:
        log_failure(exc.reason, "guard", 0, str(exc))
        return Outcome(result=replace(base, status="rejected", reason=exc.reason), png=None)
    plan = Plan(request, checked.url, settings, policy, chromium, store, timeline, network)
    stage_deadline = started + MAX_ATTEMPTS * settings.attempt_budget_s
    if deadline is not None:
        stage_deadline = min(stage_deadline, deadline)
    return await run_attempts(plan, base, started, stage_deadline)


async def run_attempts(
    plan: Plan, base: CaptureResult, started: float, stage_deadline: float
) -> Outcome:
    """Up to ``MAX_ATTEMPTS``: retry a transient failure at once, a blank capture after a delay."""
    attempt = Attempt(PhaseTimer())
    for number in range(1, MAX_ATTEMPTS + 1):
        attempt = Attempt(PhaseTimer())
        base = replace(base, attempts=number)
        attempt_deadline = min(time.monotonic() + plan.settings.attempt_budget_s, stage_deadline)
        try:
            await run_attempt(plan, attempt, attempt_deadline)
        except CaptureError as exc:
            log_failure(exc.reason, exc.phase, number, str(exc))
            base = replace(base, reason=exc.reason)
            if exc.transient and number < MAX_ATTEMPTS:
                continue
            blocked = exc.reason.startswith("url_blocked:")
            return finish(base, attempt, started, status="rejected" if blocked else "failed")
        assert attempt.judgement is not None
        if not attempt.judgement.blank:
            return finish(base, attempt, started, status="captured", reason=None)
        log_discard(attempt.judgement, number)
        base = replace(base, reason=f"blank:{attempt.judgement.failed_check}")
        if number < MAX_ATTEMPTS:
            delay = min(plan.settings.blank_retry_delay_s, stage_deadline - time.monotonic())
            await asyncio.sleep(max(0.0, delay))
    return finish(base, attempt, started, status="discarded")


async def run_attempt(plan: Plan, attempt: Attempt, deadline: float) -> None:
    """Shoot, judge and (unless blank) store, filling ``attempt`` as each step succeeds."""
    timer = attempt.timer
    network = plan.network
    # Subresources may come from any public host (fonts, CDNs): the proxy enforces the address
    # rules; ALLOWED_URL_HOSTS binds the preview URL and where its navigation ends.
    egress_policy = replace(plan.policy, allowed_hosts=())
    async with contextlib.AsyncExitStack() as stack:
        egress = await stack.enter_async_context(
            EgressProxy(egress_policy, resolve=network.resolve, connect=network.connect)
        )
        try:
            async with asyncio.timeout(deadline - time.monotonic()):
                attempt.shot = await stack.enter_async_context(
                    plan.chromium.shoot(plan.url, timer, egress=egress)
                )
        except TimeoutError as exc:
            raise deadline_error(timer) from exc
        except CaptureError as exc:
            raise egress_error(exc, egress.blocked) from exc
        finally:
            attempt.blocked_requests = len(egress.blocked)
        # The browser is closing meanwhile (leaving this block waits for it).
        try:
            check_final_url(attempt.shot.page.final_url, plan.policy)
        except UrlBlockedError as exc:
            raise CaptureError(
                str(exc), reason=exc.reason, phase="navigation", transient=False
            ) from exc
        with timer.phase("judgement"):
            attempt.judgement = await asyncio.to_thread(
                judge, attempt.shot.png, blank_policy(plan.settings), attempt.shot.dom
            )
        if not attempt.judgement.blank and plan.store is not None:
            await upload(plan, attempt, deadline)


async def upload(plan: Plan, attempt: Attempt, deadline: float) -> None:
    # Started only with UPLOAD_RESERVE_S left, the upload ends inside the attempt's budget (the
    # S3 client's own timeouts bound it), so a deadline never abandons a half-made write.
    if deadline - time.monotonic() < UPLOAD_RESERVE_S:
        raise CaptureError(
            "no time left to upload", reason="budget_exhausted", phase="upload", transient=False
        )
    assert plan.store is not None
    assert attempt.shot is not None
    assert attempt.judgement is not None
    job_id, stage, png = plan.request.job_id, plan.request.stage, attempt.shot.png
    # The timeline's diff and thumbnail are worked out meanwhile, in a thread of their own.
    drafting = None
    if plan.timeline is not None:
        drafting = asyncio.ensure_future(
            asyncio.to_thread(plan.timeline.prepare, job_id, stage, png)
        )
    try:
        with attempt.timer.phase("upload"):
            attempt.stored = await asyncio.to_thread(
                plan.store.put,
                job_id,
                stage,
                png,
                width=attempt.judgement.width,
                height=attempt.judgement.height,
            )
    finally:
        if drafting is not None:
            with attempt.timer.phase("timeline_wait"):  # what the timeline adds past the upload
                attempt.draft = await drafting


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
        blocked_requests=attempt.blocked_requests,
        duration_ms=round((time.monotonic() - started) * 1000),
        timings_ms=dict(attempt.timer.ms),
        **changes,  # type: ignore[arg-type]
    )
    draft = attempt.draft if stored else None
    return Outcome(result=result, png=shot.png if shot else None, draft=draft)


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


def log_failure(reason: str, phase: str, attempt: int, error: str) -> None:
    logger.warning(
        "capture attempt failed",
        extra={"attempt": attempt, "reason": reason, "phase": phase, "error": error[:500]},
    )
