"""What screens.py makes of a page's errors, with a page that plays back events and answers. The
markup of each framework's error screen is checked on the real frameworks (tests/frameworks)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError

from lambda_fn.capture.screens import (
    ERROR_SCREEN,
    MAX_ERROR_TEXT,
    MAX_PAGE_ERROR_TEXT,
    MAX_PAGE_ERRORS,
    PageErrors,
    read_app_error,
)
from lambda_fn.events import AppError


class FakePage:
    """Keeps the handlers ``PageErrors`` registers; ERROR_SCREEN answers ``screen``."""

    def __init__(self, screen: dict[str, str] | None = None) -> None:
        self.handlers: dict[str, Callable[[Any], None]] = {}
        self.screen = screen

    def on(self, event: str, handler: Callable[[Any], None]) -> None:
        self.handlers[event] = handler

    def uncaught(self, message: str) -> None:
        self.handlers["pageerror"](PlaywrightError(message))

    def console(self, kind: str, text: str) -> None:
        self.handlers["console"](SimpleNamespace(type=kind, text=text))

    async def evaluate(self, script: str) -> dict[str, str] | None:
        assert script == ERROR_SCREEN
        return self.screen


def read(page: FakePage, errors: PageErrors, *, has_content: bool) -> AppError | None:
    return asyncio.run(read_app_error(page, errors, has_content=has_content))


def test_uncaught_exceptions_and_console_errors_are_kept_in_order() -> None:
    page = FakePage()
    errors = PageErrors(page)
    page.console("log", "hello")
    page.console("warning", "deprecated")
    page.uncaught("TypeError: orders is undefined")
    page.console("error", "Failed to load resource: 404")
    assert errors.messages == [
        "uncaught: TypeError: orders is undefined",
        "console: Failed to load resource: 404",
    ]
    assert errors.first_uncaught == "uncaught: TypeError: orders is undefined"


def test_page_errors_are_bounded_in_number_and_length() -> None:
    page = FakePage()
    errors = PageErrors(page)
    for number in range(MAX_PAGE_ERRORS + 3):
        page.console("error", f"{number}:" + "x" * 10_000)
    assert len(errors.messages) == MAX_PAGE_ERRORS
    assert all(len(message) == MAX_PAGE_ERROR_TEXT for message in errors.messages)
    numbers = [message.split(":")[1].strip() for message in errors.messages]
    assert numbers == [str(number) for number in range(MAX_PAGE_ERRORS)]


def test_first_uncaught_exception_is_kept_after_the_list_is_full() -> None:
    page = FakePage()
    errors = PageErrors(page)
    for _ in range(MAX_PAGE_ERRORS):
        page.console("error", "noise")
    page.uncaught("Error: Orders feed broke")
    assert "uncaught: Error: Orders feed broke" not in errors.messages
    assert errors.first_uncaught == "uncaught: Error: Orders feed broke"


@pytest.mark.parametrize("kind", ["build", "runtime"])
def test_error_screen_is_read_with_its_kind_source_and_bounded_text(kind: str) -> None:
    screen = {"kind": kind, "source": "vite", "text": "  [plugin:vite:oxc] " + "y" * 5000}
    page = FakePage(screen)
    error = read(page, PageErrors(page), has_content=True)
    assert error is not None
    assert (error.kind, error.source) == (kind, "vite")
    assert error.text.startswith("[plugin:vite:oxc] ")
    assert len(error.text) == MAX_ERROR_TEXT


def test_empty_page_after_an_uncaught_exception_is_a_runtime_error() -> None:
    page = FakePage()
    errors = PageErrors(page)
    page.uncaught("Error: Orders feed broke")
    assert read(page, errors, has_content=False) == AppError(
        kind="runtime", source="uncaught", text="uncaught: Error: Orders feed broke"
    )


def test_page_that_still_shows_content_after_an_exception_is_the_app() -> None:
    page = FakePage()
    errors = PageErrors(page)
    page.uncaught("Error: analytics failed")
    assert read(page, errors, has_content=True) is None


def test_empty_page_without_an_exception_is_not_an_error_screen() -> None:
    page = FakePage()
    assert read(page, PageErrors(page), has_content=False) is None
