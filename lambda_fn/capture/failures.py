"""Translating what went wrong in the browser into reason codes, and deciding what is transient."""

from __future__ import annotations

from collections.abc import Sequence

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from lambda_fn.capture.timing import PhaseTimer
from lambda_fn.errors import CaptureError
from lambda_fn.network.egress import BlockedDestination

TRANSIENT_HTTP = frozenset({502, 503, 504})

# Chromium network error → (reason, transient). Transient: worth one more attempt.
NET_ERRORS: tuple[tuple[str, str, bool], ...] = (
    ("ERR_CONNECTION_REFUSED", "connection_refused", True),
    ("ERR_CONNECTION_RESET", "connection_reset", True),
    ("ERR_CONNECTION_CLOSED", "connection_reset", True),
    ("ERR_EMPTY_RESPONSE", "connection_reset", True),
    ("ERR_CONNECTION_TIMED_OUT", "navigation_timeout", True),
    ("ERR_TIMED_OUT", "navigation_timeout", True),
    ("ERR_NAME_NOT_RESOLVED", "dns_unresolved", True),  # a new preview host may not resolve yet
    ("ERR_TOO_MANY_REDIRECTS", "too_many_redirects", False),
    ("ERR_TUNNEL_CONNECTION_FAILED", "egress_refused", False),
    ("ERR_CERT_", "tls_error", False),
    ("ERR_SSL_", "tls_error", False),
)
CRASH_MARKERS = ("crashed", "has been closed", "Browser closed", "Target closed")


def classify_playwright_error(exc: PlaywrightError, phase: str) -> CaptureError:
    message = exc.message or str(exc)
    if isinstance(exc, PlaywrightTimeoutError):
        return _timeout(phase, message)
    if "Download is starting" in message:
        return CaptureError(message, reason="download_refused", phase=phase, transient=False)
    for marker, reason, transient in NET_ERRORS:
        if marker in message:
            return CaptureError(message, reason=reason, phase=phase, transient=transient)
    if any(marker in message for marker in CRASH_MARKERS):
        return CaptureError(message, reason="browser_crashed", phase=phase, transient=True)
    return CaptureError(message, reason=f"{phase}_failed", phase=phase, transient=False)


def classify_main_response(status: int, blocked_why: str | None, egress: str | None) -> None:
    """The main document's answer: refused by the egress proxy (``blocked_why``, from its
    header) is a blocked URL; the proxy's own error answer (``egress``: the upstream refused or
    reset the connection) is named after it; any other error status fails the attempt, only
    gateway errors retried."""
    if egress is not None:
        raise CaptureError(
            f"the preview's server did not answer: {egress}",
            reason=egress,
            phase="navigation",
            transient=True,
        )
    if blocked_why is not None:
        raise CaptureError(
            "the egress proxy refused the navigation",
            reason=f"url_blocked:{blocked_why}",
            phase="navigation",
            transient=False,
        )
    if status >= 400:
        raise CaptureError(
            f"the preview answered HTTP {status}",
            reason=f"http_{status}",
            phase="navigation",
            transient=status in TRANSIENT_HTTP,
        )


def deadline_error(timer: PhaseTimer) -> CaptureError:
    """The attempt's hard deadline passed: name it after the phase it interrupted."""
    return _timeout(timer.interrupted or timer.current or "launch", "the attempt ran out of time")


def _timeout(phase: str, message: str) -> CaptureError:
    if phase == "navigation":
        return CaptureError(message, reason="navigation_timeout", phase=phase, transient=True)
    return CaptureError(message, reason="budget_exhausted", phase=phase, transient=False)


def egress_error(exc: CaptureError, blocked: Sequence[BlockedDestination]) -> CaptureError:
    """An HTTPS navigation whose tunnel the egress proxy did not open: refused by the policy
    (then ``blocked`` says why), or the upstream did not accept the connection."""
    if exc.reason != "egress_refused":
        return exc
    if blocked:
        why = blocked[-1].why
        return CaptureError(str(exc), reason=f"url_blocked:{why}", phase=exc.phase, transient=False)
    return CaptureError(str(exc), reason="connection_refused", phase=exc.phase, transient=True)
