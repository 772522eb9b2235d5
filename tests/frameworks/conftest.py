"""Fixtures of the framework tier: each server kind started once per module, warmed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.frameworks.bed import SERVERS, AppServer, ServerKind

# What a warm server has compiled: the page, its API and its lazily loaded chunk.
WARM_PATHS = ("/", "/api/orders", "/api/orders.json", "/?chart")


@pytest.fixture(scope="module", params=SERVERS, ids=[kind.name for kind in SERVERS])
def server_kind(request: pytest.FixtureRequest) -> ServerKind:
    kind: ServerKind = request.param
    return kind


@pytest.fixture(scope="module")
def warm_server(server_kind: ServerKind) -> Iterator[AppServer]:
    server = AppServer(server_kind)
    server.start()
    server.warm(WARM_PATHS)
    yield server
    server.stop()
