"""The JSON record stored beside every screenshot: the result of the capture that stored it."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from lambda_fn.observability import SERVICE


def record(result: dict[str, Any], *, browser: str | None) -> bytes:
    """``result`` with the service's and the browser's versions, as stable, compact JSON."""
    body = {**result, "versions": {SERVICE: _service_version(), "browser": browser}}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _service_version() -> str:
    try:
        return version("preview-screenshot-service")
    except PackageNotFoundError:
        return "unknown"
