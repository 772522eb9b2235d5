"""Fixtures shared by every test tier: a private temp dir, a local page server, leak checks."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambda_fn.capture.processes import find_processes
from tests.pages import PageServer


@pytest.fixture(scope="session", autouse=True)
def private_tempdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every browser profile of this session lives here, so leaks are ours to see."""
    root = tmp_path_factory.mktemp("capture-tmp")
    previous = tempfile.tempdir
    tempfile.tempdir = str(root)
    yield root
    tempfile.tempdir = previous


@pytest.fixture(autouse=True)
def no_leftover_browsers(private_tempdir: Path) -> Iterator[None]:
    yield
    assert find_processes(str(private_tempdir)) == [], "a Chromium process outlived its capture"
    assert list(private_tempdir.glob("preview-chromium-*")) == [], "a browser profile was left"


@pytest.fixture
def pages() -> Iterator[PageServer]:
    server = PageServer()
    server.start()
    yield server
    server.stop()
