"""Synthesizes the CDK app once per configuration per session; the infra tests read the result."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# jsii reads this once, when its Node.js process starts (at the first aws_cdk import): without
# it every run prints an end-of-life banner for the Node.js version that says nothing of the app.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk.assertions import Template

from tests.infra.helpers import CUSTOM_CONTEXT, Synthesized, synthesize


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app as `cdk deploy` builds it with no context values set."""
    return synthesize({}, Path(tmp_path_factory.mktemp("cdk-default")))


@pytest.fixture(scope="session")
def custom_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app with every context value set."""
    return synthesize(CUSTOM_CONTEXT, Path(tmp_path_factory.mktemp("cdk-custom")))


@pytest.fixture(scope="session")
def template(default_synth: Synthesized) -> Template:
    return default_synth.template


@pytest.fixture(scope="session")
def custom_template(custom_synth: Synthesized) -> Template:
    return custom_synth.template
