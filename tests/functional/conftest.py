"""Fixtures of the functional tier: the local AWS emulator and the real handler module."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lambda_fn.local.emulator import LocalAws, local_aws

EVENTS = Path(__file__).resolve().parents[2] / "events"
HandlerFactory = Callable[..., ModuleType]


def load_event(name: str, **detail: str) -> Any:
    """A sample event from events/, with request fields replaced (e.g. a local preview_url)."""
    event = json.loads((EVENTS / name).read_text())
    target = event["detail"] if isinstance(event, dict) and "detail" in event else event
    target.update(detail)
    return event


@pytest.fixture
def aws() -> Iterator[LocalAws]:
    with local_aws() as emulator:
        yield emulator


@pytest.fixture
def load_handler(aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[HandlerFactory]:
    """Import ``lambda_fn.handler`` fresh, as a cold start with the emulator's environment plus
    ``env``; every service it built is stopped afterwards."""
    loaded: list[ModuleType] = []

    def load(**env: str) -> ModuleType:
        for key, value in {**aws.environment(), "ALLOW_PRIVATE_URLS": "true", **env}.items():
            monkeypatch.setenv(key, value)
        sys.modules.pop("lambda_fn.handler", None)
        module = importlib.import_module("lambda_fn.handler")
        loaded.append(module)
        return module

    yield load
    for module in loaded:
        module.SERVICE.close()
    sys.modules.pop("lambda_fn.handler", None)
