"""The service's exceptions. Every one carries a machine-readable ``reason`` code (DESIGN.md)."""

from __future__ import annotations


class ScreenshotError(Exception):
    """Base of every error this package raises on purpose."""

    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class ConfigError(ScreenshotError):
    """A configuration variable is missing or invalid; the message names the variable."""

    reason = "invalid_config"


class InvalidRequestError(ScreenshotError):
    """The event is not a valid capture request; ``reason`` is ``invalid_request:<field>``, or the
    URL policy's ``url_blocked:<why>`` for a ``preview_url`` it cannot read."""


class UrlBlockedError(ScreenshotError):
    """The URL policy refuses a destination; ``reason`` is ``url_blocked:<why>``."""

    def __init__(self, message: str, *, why: str) -> None:
        super().__init__(message, reason=f"url_blocked:{why}")
        self.why = why


class CaptureError(ScreenshotError):
    """One capture attempt failed. ``transient`` failures are worth one more attempt."""

    def __init__(self, message: str, *, reason: str, phase: str, transient: bool) -> None:
        super().__init__(message, reason=reason)
        self.phase = phase
        self.transient = transient


class StorageError(CaptureError):
    """The PNG could not be stored."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message, reason="upload_failed", phase="upload", transient=transient)
