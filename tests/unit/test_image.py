"""What Dockerfile.lambda promises, checked by reading it (no Docker engine runs here).

The built image itself, run the way Lambda runs it, is tested in tests/image/.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from lambda_fn.capture.browser import EXECUTABLE_CANDIDATES

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile.lambda"
APT_LIST = "packaging/apt-packages.txt"
BOOTSTRAP = ROOT / "scripts" / "bootstrap.sh"
ENTRYPOINT_SCRIPT = ROOT / "packaging" / "entrypoint.sh"
LOCK = "packaging/constraints.txt"
# Packages the image may name outside the shared list: build tools, never a browser or a font.
APT_BUILD_TOOLS = {"fontconfig", "binutils"}
# Debian names browser and font packages like this (fonts-noto-cjk, ttf-bitstream-vera, ...).
BROWSER_OR_FONT = re.compile(r"chromium|^(x?fonts|ttf|otf)-")
# `grep -v -E '<filter>' <file>`: how both the image and bootstrap.sh read the shared list.
LIST_FILTER = re.compile(r"grep -v -E '(?P<filter>[^']+)' (?P<path>[^\s)]+)")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def json_args(self) -> list[str]:
        value = json.loads(self.args)
        assert isinstance(value, list), f"line {self.line}: {self.keyword} is not in JSON form"
        return value

    def copy_parts(self) -> tuple[dict[str, str], list[str], str]:
        """``COPY [--flag=value ...] src... dest`` → (flags, sources, destination)."""
        words = shlex.split(self.args)
        flags = dict(word[2:].partition("=")[::2] for word in words if word.startswith("--"))
        paths = [word for word in words if not word.startswith("--")]
        return flags, paths[:-1], paths[-1]

    def commands(self) -> list[list[str]]:
        """A RUN's ``&&``-joined commands, each split into words."""
        return [shlex.split(part) for part in self.args.split("&&")]


@dataclass(frozen=True)
class Stage:
    name: str
    base: str
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[Instruction]:
        return [item for item in self.instructions if item.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage {self.name} has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        pairs = [word.partition("=") for item in self.all("ENV") for word in shlex.split(item.args)]
        return {key: value for key, _, value in pairs}

    def index(self, item: Instruction) -> int:
        return self.instructions.index(item)


@dataclass(frozen=True)
class Dockerfile:
    args: dict[str, str]
    stages: tuple[Stage, ...]

    def stage(self, name: str) -> Stage:
        return next(stage for stage in self.stages if stage.name == name)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def runs(self) -> list[tuple[Stage, Instruction]]:
        return [(stage, run) for stage in self.stages for run in stage.all("RUN")]


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Instructions with their continuation lines joined; comment lines dropped (also inside
    a continuation, as Docker does)."""
    lines: list[tuple[int, str]] = []
    start, parts = 0, []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not parts:
            start = number
        parts.append(stripped.removesuffix("\\").strip())
        if not stripped.endswith("\\"):
            lines.append((start, " ".join(parts)))
            parts = []
    assert not parts, "the Dockerfile ends inside a line continuation"
    return lines


def parse_dockerfile(text: str) -> Dockerfile:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    current: list[Instruction] = []
    for number, line in logical_lines(text):
        keyword, _, rest = line.partition(" ")
        item = Instruction(keyword.upper(), rest.strip(), number)
        if item.keyword == "FROM":
            words = item.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            current = []
            stages.append(Stage(name, words[0], ()))
        elif not stages and item.keyword == "ARG":
            key, _, default = item.args.partition("=")
            args[key] = default
        else:
            current.append(item)
            stages[-1] = Stage(stages[-1].name, stages[-1].base, tuple(current))
    return Dockerfile(args, tuple(stages))


def read_apt_list(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def image() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE.read_text())


def apt_installs(image: Dockerfile) -> list[tuple[Stage, Instruction, list[str]]]:
    found = []
    for stage, run in image.runs():
        for words in run.commands():
            if "apt-get" in words and "install" in words:
                found.append((stage, run, words[words.index("install") + 1 :]))
    return found


def runtime_apt_installs(image: Dockerfile) -> list[tuple[Stage, Instruction, list[str]]]:
    """The apt installs of the shipped stage (a build stage may install build tools)."""
    return [found for found in apt_installs(image) if found[0] is image.final]


def test_every_stage_builds_on_one_bookworm_python_311_base(image: Dockerfile) -> None:
    assert {stage.base for stage in image.stages} == {"${PYTHON_IMAGE}"}
    base = image.args["PYTHON_IMAGE"]
    assert base.startswith("python:3.11"), base
    assert base.endswith("-bookworm"), base


def test_the_image_copies_the_shared_apt_list_and_installs_from_it(image: Dockerfile) -> None:
    ((stage, run, words),) = runtime_apt_installs(image)
    copies = [item for item in stage.all("COPY") if item.copy_parts()[1] == [APT_LIST]]
    assert len(copies) == 1, f"{APT_LIST} is not copied into the runtime stage"
    assert stage.index(copies[0]) < stage.index(run)
    match = LIST_FILTER.search(run.args)
    assert match is not None, "the apt-get RUN does not read a package list"
    assert match["path"] == copies[0].copy_parts()[2]
    assert "${packages[@]}" in words
    assert "--no-install-recommends" in words


def test_no_other_apt_line_names_a_browser_or_font_package(image: Dockerfile) -> None:
    named = {
        word
        for _, _, words in apt_installs(image)
        for word in words
        if not word.startswith("-") and "$" not in word
    }
    assert named <= APT_BUILD_TOOLS, named - APT_BUILD_TOOLS
    assert not {word for word in named if BROWSER_OR_FONT.search(word)}


def test_bootstrap_reads_the_same_list_the_same_way(image: Dockerfile) -> None:
    ((_, run, _),) = runtime_apt_installs(image)
    image_filter = LIST_FILTER.search(run.args)
    bootstrap_filter = LIST_FILTER.search(BOOTSTRAP.read_text())
    assert image_filter is not None
    assert bootstrap_filter is not None
    assert bootstrap_filter["path"] == APT_LIST
    assert bootstrap_filter["filter"] == image_filter["filter"]


def test_the_shared_filter_yields_the_browser_and_the_fonts(image: Dockerfile) -> None:
    ((_, run, _),) = runtime_apt_installs(image)
    match = LIST_FILTER.search(run.args)
    assert match is not None
    result = subprocess.run(
        ["grep", "-v", "-E", match["filter"], str(ROOT / APT_LIST)],
        capture_output=True,
        text=True,
        check=True,
    )
    packages = result.stdout.split()
    assert packages == read_apt_list(ROOT / APT_LIST)
    assert "chromium-headless-shell" in packages
    assert {"fonts-liberation", "fonts-noto-color-emoji", "fonts-noto-cjk"} <= set(packages)


def test_entrypoint_runs_the_runtime_interface_client_under_a_reaping_init(
    image: Dockerfile,
) -> None:
    (entrypoint,) = image.final.last("ENTRYPOINT").json_args()
    copies = [item.copy_parts() for item in image.final.all("COPY")]
    assert ({}, ["packaging/entrypoint.sh"], entrypoint) in copies
    script = ENTRYPOINT_SCRIPT.read_text()
    assert script.rstrip().endswith('exec /usr/bin/tini -s -- python -m awslambdaric "$@"')
    assert "tini" in read_apt_list(ROOT / APT_LIST)


def test_command_names_a_function_defined_in_an_importable_module(image: Dockerfile) -> None:
    (command,) = image.final.last("CMD").json_args()
    assert command == "lambda_fn.handler.handler"
    module, _, attribute = command.rpartition(".")
    spec = importlib.util.find_spec(module)
    assert spec is not None
    assert spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text())
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert attribute in functions


def test_home_is_tmp_and_chromium_is_the_headless_shell_binary(image: Dockerfile) -> None:
    env = image.final.env()
    assert env["HOME"] == "/tmp"
    # The binary itself, not /usr/bin's wrapper script, and the one the host tests run first.
    assert env["CHROMIUM_EXECUTABLE"] == "/usr/lib/chromium/chromium-headless-shell"
    assert env["CHROMIUM_EXECUTABLE"] == EXECUTABLE_CANDIDATES[0]
    assert env["PATH"].startswith("/opt/venv/bin:")


def test_started_as_root_the_entrypoint_drops_to_a_user_the_image_creates(
    image: Dockerfile,
) -> None:
    # No USER line (SAM's emulator layer needs root to build); the entry point drops instead.
    assert not image.final.all("USER")
    match = re.search(
        r'if \[ "\$\(id -u\)" -eq 0 \]; then\n\s+exec setpriv --reuid=(\d+) --regid=(\d+) '
        r'--clear-groups -- "\$0" "\$@"',
        ENTRYPOINT_SCRIPT.read_text(),
    )
    assert match is not None, "the entry point does not drop root first"
    uid, gid = match.groups()
    assert uid != "0"
    assert gid != "0"
    runs = " ".join(run.args for run in image.final.all("RUN"))
    assert re.search(rf"useradd .*--uid {uid}\b", runs), f"no useradd creates uid {uid}"
    assert re.search(rf"groupadd .*--gid {gid}\b", runs), f"no groupadd for {gid}"


def test_playwright_never_downloads_a_browser(image: Dockerfile) -> None:
    assert not [run for _, run in image.runs() if "playwright install" in run.args]


def test_only_the_lambda_extra_is_installed_and_nothing_editable(image: Dockerfile) -> None:
    pip_runs = [run.args for _, run in image.runs() if "pip " in run.args]
    assert pip_runs
    for args in pip_runs:
        assert "--no-cache-dir" in args
        assert not re.search(r"\[(dev|infra)\b|--editable|\s-e\s", args), args
    (install,) = [run.args for run in image.stage("deps").all("RUN") if "pip " in run.args]
    assert '["optional-dependencies"]["lambda"]' in install
    assert "-c constraints.txt" in install
    assert "[lambda]" in image.final.last("RUN").args


def test_layers_change_in_the_order_their_inputs_do(image: Dockerfile) -> None:
    deps = image.stage("deps")
    install = next(i for i, item in enumerate(deps.instructions) if "pip " in item.args)
    before_install = [item for item in deps.instructions[:install] if item.keyword == "COPY"]
    assert [item.copy_parts()[1] for item in before_install] == [["pyproject.toml", LOCK]]
    final = image.final
    copies = final.all("COPY")
    sources = [item.copy_parts() for item in copies]
    order = [
        next(i for i, (_, paths, _) in enumerate(sources) if paths == [APT_LIST]),
        next(i for i, (flags, _, _) in enumerate(sources) if flags.get("from") == "deps"),
        next(i for i, (flags, _, _) in enumerate(sources) if flags.get("from") == "app"),
    ]
    assert order == sorted(order)
    assert {flags.get("from") for flags, _, _ in sources} == {None, "deps", "app"}
