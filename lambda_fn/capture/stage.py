"""One stage's capture: at most two attempts, each a fresh browser under a hard deadline.

The stage's worst case (``MAX_ATTEMPTS`` budgets) includes the browsers' teardown: an attempt's
browser must have its PNG by ``TEARDOWN_RESERVE_S`` before the attempt's deadline, and readiness
ends ``READINESS_RESERVE_S`` before it, leaving time to shoot, judge and upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, replace
from typing import Protocol
from urllib.parse import urlsplit

from lambda_fn.capture.browser import Chromium, Shot
from lambda_fn.capture.failures import deadline_error, egress_error
from lambda_fn.capture.timing import PhaseTimer
from lambda_fn.config import Settings
from lambda_fn.errors import CaptureError, StorageError, UrlBlockedError
from lambda_fn.events import AttemptRecord, CaptureRequest, CaptureResult, ImageInfo
from lambda_fn.network.egress import Connector, EgressProxy, open_tcp
from lambda_fn.network.guard import (
    Resolver,
    UrlPolicy,
    check_final_url,
    check_url,
    parse_authority,
    resolve_host,
)
from lambda_fn.observability import logger
from lambda_fn.pictures.blank import BlankPolicy, Judgement, decode_rgba, judge
from lambda_fn.pictures.diff import Pixels
from lambda_fn.state.storage import UPLOAD_RESERVE_S, StoredImage
from lambda_fn.state.timeline import Draft, Kept, Recalled, Timeline, prepare

MAX_ATTEMPTS = 2
TEARDOWN_RESERVE_S = 2.0  # closing (browser.CLOSE_TIMEOUT_S) and killing what is left
READINESS_RESERVE_S = UPLOAD_RESERVE_S + 1.5  # the screenshot and the judgement besides
# Before the second attempt: a server that refused or reset the connection may be starting.
CONNECTION_BACKOFF_S = 2.0
CONNECTION_REASONS = frozenset({"connection_refused", "connection_reset"})


class Store(Protocol):
    def put(
        self, job_id: str, stage: str, png: bytes, *, width: int, height: int
    ) -> StoredImage: ...

    def put_evidence(self, job_id: str, stage: str, png: bytes) -> str: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """The stage's result, the last PNG taken (even a blank one) for people to look at, and what
    the timeline kept for the stored PNG."""

    result: CaptureResult
    png: bytes | None
    kept: Kept | None = None


@dataclass(slots=True)
class Attempt:
    timer: PhaseTimer
    shot: Shot | None = None
    judgement: Judgement | None = None
    stored: StoredImage | None = None
    keeping: asyncio.Future[Kept] | None = None  # the timeline's work for the stored PNG
    kept: Kept | None = None
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
    recalled: asyncio.Future[Recalled] | None  # the job's previous capture, read meanwhile


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
    # The previous capture is read and decoded while the page loads, off the path to the result.
    recalled = None
    if timeline is not None and store is not None:
        recalled = asyncio.ensure_future(asyncio.to_thread(timeline.recall, request.job_id))
    plan = Plan(
        request, checked.url, settings, policy, chromium, store, timeline, network, recalled
    )
    stage_deadline = started + MAX_ATTEMPTS * settings.attempt_budget_s
    if deadline is not None:
        stage_deadline = min(stage_deadline, deadline)
    try:
        return await run_attempts(plan, base, started, stage_deadline)
    finally:
        if recalled is not None:
            recalled.cancel()  # not wanted once nothing was stored; a no-op once it is done


async def run_attempts(
    plan: Plan, base: CaptureResult, started: float, stage_deadline: float
) -> Outcome:
    """Up to ``MAX_ATTEMPTS``: retry a transient failure (after ``retry_delay``: an error screen
    after the blank delay, a page still loading at once), a blank capture after the blank
    delay."""
    attempt = Attempt(PhaseTimer())
    log: list[AttemptRecord] = []
    for number in range(1, MAX_ATTEMPTS + 1):
        attempt = Attempt(PhaseTimer())
        attempt_started = time.monotonic()
        base = replace(base, attempts=number)
        attempt_deadline = min(attempt_started + plan.settings.attempt_budget_s, stage_deadline)
        try:
            await run_attempt(plan, attempt, attempt_deadline, final=number == MAX_ATTEMPTS)
        except CaptureError as exc:
            log_failure(exc.reason, exc.phase, number, str(exc))
            base = replace(base, reason=exc.reason)
            log.append(record(exc.reason, attempt, attempt_started))
            base = replace(base, attempt_log=list(log))
            if exc.transient and number < MAX_ATTEMPTS:
                await pause(retry_delay(exc.reason, plan.settings), stage_deadline)
                continue
            blocked = exc.reason.startswith("url_blocked:")
            return finish(base, attempt, started, status="rejected" if blocked else "failed")
        assert attempt.judgement is not None
        reason = None if not attempt.judgement.blank else f"blank:{attempt.judgement.failed_check}"
        log.append(record(reason, attempt, attempt_started))
        base = replace(base, attempt_log=list(log))
        if reason is None:
            return finish(base, attempt, started, status="captured", reason=None)
        log_discard(attempt.judgement, number)
        base = replace(base, reason=reason)
        if number < MAX_ATTEMPTS:
            await pause(plan.settings.blank_retry_delay_s, stage_deadline)
    evidence_key = await keep_evidence(plan, attempt, stage_deadline)
    return finish(base, attempt, started, status="discarded", evidence_key=evidence_key)


async def keep_evidence(plan: Plan, attempt: Attempt, stage_deadline: float) -> str | None:
    """Store the last discarded PNG for tuning, when the stage has time left for an upload; a
    failure to keep it changes nothing else."""
    if plan.store is None or attempt.shot is None:
        return None
    if stage_deadline - time.monotonic() < UPLOAD_RESERVE_S:
        return None
    try:
        with attempt.timer.phase("evidence"):
            return await asyncio.to_thread(
                plan.store.put_evidence, plan.request.job_id, plan.request.stage, attempt.shot.png
            )
    except StorageError as exc:
        log_failure("evidence_not_kept", "evidence", 0, str(exc))
        return None


def retry_delay(reason: str, settings: Settings) -> float:
    """How long before the next attempt: a dev server mid-rebuild gets the blank delay, one
    that is starting (refusing connections) a backoff; other transient failures none."""
    if reason.startswith("app_error:"):
        return settings.blank_retry_delay_s
    if reason in CONNECTION_REASONS:
        return CONNECTION_BACKOFF_S
    return 0.0


async def pause(seconds: float, stage_deadline: float) -> None:
    await asyncio.sleep(max(0.0, min(seconds, stage_deadline - time.monotonic())))


def record(reason: str | None, attempt: Attempt, attempt_started: float) -> AttemptRecord:
    duration_ms = round((time.monotonic() - attempt_started) * 1000)
    return AttemptRecord(reason=reason, duration_ms=duration_ms, timings_ms=dict(attempt.timer.ms))


async def run_attempt(plan: Plan, attempt: Attempt, deadline: float, *, final: bool) -> None:
    """Shoot, judge and (unless blank) store, filling ``attempt`` as each step succeeds. A page
    still loading when readiness ended is retried unless this is the ``final`` attempt: a cold
    dev server that spent the budget compiling answers the next attempt from its cache."""
    timer = attempt.timer
    network = plan.network
    # Subresources may come from any public host (fonts, CDNs): the proxy enforces the address
    # rules; ALLOWED_URL_HOSTS binds the preview URL and where its navigation ends.
    egress_policy = replace(plan.policy, allowed_hosts=())
    async with contextlib.AsyncExitStack() as stack:
        egress = await stack.enter_async_context(
            EgressProxy(
                egress_policy,
                resolve=network.resolve,
                connect=network.connect,
                patient=preview_destination(plan.url),
            )
        )
        shooting = plan.chromium.shoot(
            plan.url, timer, egress=egress, ready_by=deadline - READINESS_RESERVE_S
        )
        try:
            async with asyncio.timeout(deadline - TEARDOWN_RESERVE_S - time.monotonic()):
                attempt.shot = await stack.enter_async_context(shooting)
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
        app_error = attempt.shot.page.app_error
        if app_error is not None:  # not the app: never judged, never stored
            raise CaptureError(
                f"{app_error.source} shows an error: {app_error.text[:200]}",
                reason=f"app_error:{app_error.kind}",
                phase="readiness",
                transient=True,
            )
        if not (final or attempt.shot.page.settled):
            raise CaptureError(
                f"still loading when readiness ended: {attempt.shot.page.waiting_for}",
                reason="unsettled",
                phase="readiness",
                transient=True,
            )
        with timer.phase("judgement"):
            pixels = await asyncio.to_thread(decode_rgba, attempt.shot.png)
            # The timeline's diff and thumbnail are worked out meanwhile, in a thread of their
            # own, and wanted only if the PNG is stored.
            drafting = start_draft(plan, attempt.shot.png, pixels)
            attempt.judgement = await asyncio.to_thread(
                judge,
                attempt.shot.png,
                blank_policy(plan.settings),
                attempt.shot.dom,
                rgba=pixels,
            )
        try:
            if not attempt.judgement.blank and plan.store is not None:
                await upload(plan, attempt, deadline)
        finally:
            if drafting is not None and attempt.stored is None:
                drafting.cancel()  # wanted only for a stored PNG
        if plan.timeline is not None and drafting is not None and attempt.stored is not None:
            # Waited for once the browser is closed: its thumbnail is stored meanwhile.
            attempt.keeping = asyncio.ensure_future(
                keep(plan.timeline, drafting, attempt.stored.info, plan.request)
            )
    if attempt.keeping is not None:
        with timer.phase("timeline_wait"):  # what the timeline adds past the browser's teardown
            attempt.kept = await attempt.keeping


def preview_destination(url: str) -> tuple[str, int]:
    """The preview's (host, port), as the egress proxy sees it in the browser's requests."""
    parts = urlsplit(url)
    host, port = parse_authority(parts.netloc, 443 if parts.scheme == "https" else 80)
    return host.lower(), port


def start_draft(plan: Plan, png: bytes, pixels: Pixels) -> asyncio.Future[Draft] | None:
    if plan.recalled is None:
        return None
    return asyncio.ensure_future(draft(plan.recalled, plan.request.stage, png, pixels))


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
    with attempt.timer.phase("upload"):
        attempt.stored = await asyncio.to_thread(
            plan.store.put,
            plan.request.job_id,
            plan.request.stage,
            attempt.shot.png,
            width=attempt.judgement.width,
            height=attempt.judgement.height,
        )


async def draft(
    recalled: asyncio.Future[Recalled], stage: str, png: bytes, pixels: Pixels
) -> Draft:
    return await asyncio.to_thread(prepare, await recalled, stage, png, pixels)


async def keep(
    timeline: Timeline, drafting: asyncio.Future[Draft], image: ImageInfo, request: CaptureRequest
) -> Kept:
    return await timeline.keep(await drafting, image, request.job_id, request.stage)


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
    kept = attempt.kept if stored else None
    return Outcome(result=result, png=shot.png if shot else None, kept=kept)


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
