"""Reason codes and transient-ness of browser errors, HTTP statuses and the attempt deadline."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from lambda_fn.capture.failures import (
    classify_main_response,
    classify_playwright_error,
    deadline_error,
    egress_error,
)
from lambda_fn.capture.timing import PhaseTimer
from lambda_fn.errors import CaptureError
from lambda_fn.network.egress import BlockedDestination

URL = "http://127.0.0.1:9/"


def goto_error(code: str) -> PlaywrightError:
    """The message Playwright raises from ``page.goto`` for a Chromium network error."""
    return PlaywrightError(
        f"Page.goto: net::{code} at {URL}\n"
        f'Call log:\n  - navigating to "{URL}", waiting until "load"\n'
    )


@pytest.mark.parametrize(
    ("code", "reason", "transient"),
    [
        ("ERR_CONNECTION_REFUSED", "connection_refused", True),
        ("ERR_CONNECTION_RESET", "connection_reset", True),
        ("ERR_CONNECTION_CLOSED", "connection_reset", True),
        ("ERR_EMPTY_RESPONSE", "connection_reset", True),
        ("ERR_CONNECTION_TIMED_OUT", "navigation_timeout", True),
        ("ERR_TIMED_OUT", "navigation_timeout", True),
        ("ERR_NAME_NOT_RESOLVED", "dns_unresolved", True),
        ("ERR_TOO_MANY_REDIRECTS", "too_many_redirects", False),
        ("ERR_TUNNEL_CONNECTION_FAILED", "egress_refused", False),
        ("ERR_CERT_AUTHORITY_INVALID", "tls_error", False),
        ("ERR_CERT_DATE_INVALID", "tls_error", False),
        ("ERR_SSL_PROTOCOL_ERROR", "tls_error", False),
    ],
)
def test_chromium_network_error_maps_to_its_reason_and_transience(
    code: str, reason: str, transient: bool
) -> None:
    error = classify_playwright_error(goto_error(code), "navigation")
    assert (error.reason, error.transient, error.phase) == (reason, transient, "navigation")
    assert code in str(error)


def test_navigation_timeout_is_transient() -> None:
    exc = PlaywrightTimeoutError(
        f'Page.goto: Timeout 15000ms exceeded.\nCall log:\n  - navigating to "{URL}"\n'
    )
    error = classify_playwright_error(exc, "navigation")
    assert (error.reason, error.transient) == ("navigation_timeout", True)


@pytest.mark.parametrize("phase", ["launch", "readiness", "screenshot"])
def test_timeout_outside_navigation_exhausts_the_budget_without_retry(phase: str) -> None:
    exc = PlaywrightTimeoutError("Page.screenshot: Timeout 5000ms exceeded.")
    error = classify_playwright_error(exc, phase)
    assert (error.reason, error.transient, error.phase) == ("budget_exhausted", False, phase)


@pytest.mark.parametrize(
    "exc",
    [
        PlaywrightError("Page.screenshot: Target crashed "),
        PlaywrightError("Page.goto: Navigation failed because page crashed!"),
        PlaywrightError("Page crashed"),
        PlaywrightError("BrowserType.launch_persistent_context: Browser closed."),
        PlaywrightError("Page.screenshot: Target page, context or browser has been closed"),
    ],
    ids=["target-crashed", "page-crashed-navigating", "page-crashed", "browser-closed", "closed"],
)
def test_browser_crash_is_transient(exc: PlaywrightError) -> None:
    error = classify_playwright_error(exc, "screenshot")
    assert (error.reason, error.transient) == ("browser_crashed", True)


def test_download_instead_of_a_page_is_refused_without_retry() -> None:
    error = classify_playwright_error(
        PlaywrightError("Page.goto: Download is starting"), "navigation"
    )
    assert (error.reason, error.transient) == ("download_refused", False)


@pytest.mark.parametrize("phase", ["navigation", "readiness", "screenshot"])
def test_unrecognised_error_fails_its_phase_without_retry(phase: str) -> None:
    error = classify_playwright_error(goto_error("ERR_ABORTED"), phase)
    assert (error.reason, error.transient, error.phase) == (f"{phase}_failed", False, phase)


@pytest.mark.parametrize("status", [200, 201, 204, 301, 304, 399])
def test_success_and_redirect_statuses_pass(status: int) -> None:
    classify_main_response(status, None, None)  # raises for a failed attempt


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_error_status_is_transient(status: int) -> None:
    with pytest.raises(CaptureError) as caught:
        classify_main_response(status, None, None)
    error = caught.value
    assert (error.reason, error.transient, error.phase) == (f"http_{status}", True, "navigation")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 429, 500, 501, 505])
def test_other_error_status_fails_without_retry(status: int) -> None:
    with pytest.raises(CaptureError) as caught:
        classify_main_response(status, None, None)
    error = caught.value
    assert (error.reason, error.transient, error.phase) == (f"http_{status}", False, "navigation")


# The attempt's deadline is named after the phase it interrupted.


async def cut_short(timer: PhaseTimer, phases: list[str]) -> None:
    """Run ``phases`` in turn, the last one hanging until the deadline cancels it."""
    async with asyncio.timeout(0.01):
        for name in phases[:-1]:
            with timer.phase(name):
                await asyncio.sleep(0)
        with timer.phase(phases[-1]):
            await asyncio.sleep(10)


@pytest.mark.parametrize(
    ("phases", "reason", "transient"),
    [
        (["launch", "navigation"], "navigation_timeout", True),
        (["launch"], "budget_exhausted", False),
        (["launch", "navigation", "readiness"], "budget_exhausted", False),
        (["launch", "navigation", "readiness", "screenshot"], "budget_exhausted", False),
    ],
)
def test_deadline_is_named_after_the_phase_it_interrupted(
    phases: list[str], reason: str, transient: bool
) -> None:
    timer = PhaseTimer()
    with pytest.raises(TimeoutError):
        asyncio.run(cut_short(timer, phases))
    error = deadline_error(timer)
    assert (error.reason, error.transient, error.phase) == (reason, transient, phases[-1])


def test_deadline_before_any_phase_is_named_after_launch() -> None:
    error = deadline_error(PhaseTimer())
    assert (error.reason, error.transient, error.phase) == ("budget_exhausted", False, "launch")


def test_deadline_keeps_the_first_interrupted_phase_over_later_ones() -> None:
    timer = PhaseTimer()
    with pytest.raises(TimeoutError), timer.phase("navigation"):
        raise TimeoutError
    with pytest.raises(RuntimeError), timer.phase("teardown"):
        raise RuntimeError
    assert deadline_error(timer).reason == "navigation_timeout"


@pytest.mark.parametrize("status", [200, 403, 502])
def test_main_response_refused_by_the_egress_proxy_is_a_blocked_url(status: int) -> None:
    with pytest.raises(CaptureError) as caught:
        classify_main_response(status, "private_address", None)
    error = caught.value
    assert (error.reason, error.transient) == ("url_blocked:private_address", False)


# Egress: an HTTPS tunnel the proxy refused is the URL policy's answer when it blocked something.


def tunnel_error() -> CaptureError:
    return classify_playwright_error(goto_error("ERR_TUNNEL_CONNECTION_FAILED"), "navigation")


def test_refused_tunnel_after_a_policy_block_is_a_blocked_url() -> None:
    blocked = [BlockedDestination(host="10.0.0.1", port=443, why="private_address")]
    error = egress_error(tunnel_error(), blocked)
    assert (error.reason, error.transient) == ("url_blocked:private_address", False)


def test_refused_tunnel_with_nothing_blocked_is_a_transient_refused_connection() -> None:
    error = egress_error(tunnel_error(), [])
    assert (error.reason, error.transient) == ("connection_refused", True)


def test_other_errors_are_not_reinterpreted_as_egress() -> None:
    blocked = [BlockedDestination(host="10.0.0.1", port=443, why="private_address")]
    original = classify_playwright_error(goto_error("ERR_CONNECTION_RESET"), "navigation")
    assert egress_error(original, blocked) is original
