"""cfn-lint on the synthesized templates, with the settings of .cfnlintrc.yaml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.helpers import REPO_ROOT, Synthesized

CFN_LINT = Path(sys.executable).with_name("cfn-lint")


@pytest.mark.parametrize("synth_name", ["default_synth", "custom_synth"])
def test_cfn_lint_finds_nothing(synth_name: str, request: pytest.FixtureRequest) -> None:
    synth: Synthesized = request.getfixturevalue(synth_name)
    result = subprocess.run(
        [
            str(CFN_LINT),
            "--config-file",
            str(REPO_ROOT / ".cfnlintrc.yaml"),
            "--",
            str(synth.template_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
