"""Fixtures of the image tier: the engine, the image built from this tree, the AWS emulator and
pages on 127.0.0.1, and the container environment pointing at them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lambda_fn.local.emulator import REGION, LocalAws, local_aws
from tests.image import engine
from tests.pages import PageServer


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with engine.docker_engine(log):
        yield engine.build_image()


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with local_aws() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def site() -> Iterator[PageServer]:
    server = PageServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lambda_env(aws: LocalAws) -> dict[str, str]:
    """What the function sees on Lambda (both region variables), pointed at the emulator."""
    return {**aws.environment(), "AWS_REGION": REGION, "ALLOW_PRIVATE_URLS": "true"}


@pytest.fixture(scope="module")
def function(image: str, lambda_env: dict[str, str]) -> Iterator[engine.LambdaContainer]:
    """One warm execution environment shared by a module's tests, as Lambda reuses one."""
    with engine.lambda_container(lambda_env) as container:
        yield container
