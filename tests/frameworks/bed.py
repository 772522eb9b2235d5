"""The real-framework test bed: apps generated from npm, cached outside the repository, and their
servers started on 127.0.0.1 and stopped by process id.

Each app is scaffolded by its framework's own generator (create-vite, create-next-app, sv), the
bed's page is laid over it (templates/), and its dependencies are installed from the npm registry
(``--prefer-offline``: npm's cache answers when it can). A built app lives in
``$PREVIEW_APPS_CACHE`` (default /var/cache/preview-screenshot-service/apps) under a name that
hashes everything it was made from, so a changed template builds a new app and an unchanged one
is reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import io
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from lambda_fn.__main__ import shoot_url
from lambda_fn.capture.stage import Outcome
from lambda_fn.config import Settings

TEMPLATES = Path(__file__).resolve().parent / "templates"
CACHE = Path(os.environ.get("PREVIEW_APPS_CACHE", "/var/cache/preview-screenshot-service/apps"))
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
NPM_INSTALL = ("npm", "install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error")
SERVER_ENV = {"NEXT_TELEMETRY_DISABLED": "1", "BROWSER": "none", "NO_COLOR": "1"}
LOCAL = Settings.from_env({"ALLOW_PRIVATE_URLS": "true"})  # the servers are on loopback
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0

# Marker colours of templates/shared/bed.css: painted only by the loaded state.
LOADED_COLOUR = (0xE6, 0x00, 0x7A)  # the banner shown once the orders have rendered
CHART_COLOUR = (0x00, 0xB3, 0xA4)  # the lazily loaded chart
MARKER_MIN_PIXELS = 20_000  # the banner is 1232x48 px, the chart 1232x160, minus their text


@dataclass(frozen=True, slots=True)
class AppSpec:
    """How one app is made: the generator, which template goes where, and its build."""

    name: str
    scaffold: tuple[str, ...]  # run in the parent directory; ``{dir}`` is the app's name
    layers: tuple[tuple[str, str], ...]  # (template directory, destination inside the app)
    files: tuple[tuple[str, str], ...]  # (shared file, destination inside the app)
    public: str  # where the font and the logo are served from
    build: tuple[str, ...] = ()
    after_build: tuple[tuple[str, str], ...] = ()  # layers a build must not see (compile errors)
    remove: tuple[str, ...] = field(default=())  # generated files the bed replaces


VITE = AppSpec(
    name="vite-react",
    scaffold=(
        "npx",
        "--yes",
        "create-vite@9.3.0",
        "{dir}",
        "--template",
        "react-ts",
        "--no-interactive",
    ),
    layers=(("react", "src"), ("vite", ".")),
    files=(("bed.css", "src/bed.css"), ("orders.json", "public/api/orders.json")),
    public="public",
    remove=("src/App.tsx", "src/App.css", "src/index.css"),
)
NEXT = AppSpec(
    name="next",
    scaffold=(
        "npx",
        "--yes",
        "create-next-app@16.4.3",
        "{dir}",
        "--ts",
        "--app",
        "--no-tailwind",
        "--no-eslint",
        "--no-src-dir",
        "--turbopack",
        "--import-alias",
        "@/*",
        "--use-npm",
        "--yes",
        "--skip-install",
        "--disable-git",
    ),
    layers=(("react", "app"), ("next", ".")),
    files=(("bed.css", "app/bed.css"), ("orders.json", "app/orders.json")),
    public="public",
    build=("node_modules/.bin/next", "build"),
    after_build=(("next-broken", "."),),
    remove=("app/page.module.css", "app/globals.css"),
)
SVELTEKIT = AppSpec(
    name="sveltekit",
    scaffold=(
        "npx",
        "--yes",
        "sv@0.17.1",
        "create",
        "{dir}",
        "--template",
        "minimal",
        "--types",
        "ts",
        "--no-add-ons",
        "--no-install",
        "--no-dir-check",
    ),
    layers=(("sveltekit", "."), ("sveltekit-broken", ".")),
    files=(("bed.css", "src/lib/bed.css"), ("orders.json", "src/lib/orders.json")),
    public="static",
)


def app_dir(spec: AppSpec) -> Path:
    """The built app, made now when the cache does not hold it."""
    target = CACHE / f"{spec.name}-{_fingerprint(spec)}"
    if (target / ".built").exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f".{spec.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time; the others reuse its work
        if not (target / ".built").exists():
            _build(spec, target)
    return target


def _fingerprint(spec: AppSpec) -> str:
    """The spec and the templates it uses, so a change to another app's template keeps this one."""
    digest = hashlib.sha256(repr(spec).encode())
    used = [TEMPLATES / layer for layer, _ in (*spec.layers, *spec.after_build)]
    used += [TEMPLATES / "shared" / name for name, _ in spec.files]
    paths = {path for root in used for path in (root, *root.rglob("*")) if path.is_file()}
    for path in sorted(paths):
        digest.update(str(path.relative_to(TEMPLATES)).encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def _build(spec: AppSpec, target: Path) -> None:
    work = target.with_name(f".{target.name}.work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    command = [part.replace("{dir}", "app") for part in spec.scaffold]
    _run(command, cwd=work)
    app = work / "app"
    for name in spec.remove:
        (app / name).unlink(missing_ok=True)
    for layer, destination in spec.layers:
        shutil.copytree(TEMPLATES / layer, app / destination, dirs_exist_ok=True)
    for name, destination in spec.files:
        (app / destination).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TEMPLATES / "shared" / name, app / destination)
    shutil.copyfile(FONT, app / spec.public / "bed-font.ttf")
    (app / spec.public / "bed-logo.png").write_bytes(_logo())
    _run(list(NPM_INSTALL), cwd=app)
    if spec.build:
        _run(list(spec.build), cwd=app)
    for layer, destination in spec.after_build:
        shutil.copytree(TEMPLATES / layer, app / destination, dirs_exist_ok=True)
    (app / ".built").touch()
    shutil.rmtree(target, ignore_errors=True)
    app.rename(target)
    shutil.rmtree(work, ignore_errors=True)


def _run(command: list[str], *, cwd: Path) -> None:
    env = {**os.environ, **SERVER_ENV, "CI": "1"}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed in {cwd}:\n{done.stdout}\n{done.stderr}")


def _logo() -> bytes:
    image = Image.new("RGB", (40, 40), (0x38, 0xBD, 0xF8))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass(frozen=True, slots=True)
class ServerKind:
    """One way of serving an app: its command (``{port}`` filled in) and the caches that a cold
    start clears."""

    name: str
    spec: AppSpec
    command: tuple[str, ...]
    caches: tuple[str, ...] = ()


VITE_DEV = ServerKind(
    "vite-dev",
    VITE,
    ("node_modules/.bin/vite", "--host", "127.0.0.1", "--port", "{port}", "--strictPort"),
    ("node_modules/.vite",),
)
NEXT_DEV = ServerKind(
    "next-dev",
    NEXT,
    ("node_modules/.bin/next", "dev", "--turbopack", "-H", "127.0.0.1", "-p", "{port}"),
    (".next/dev",),
)
NEXT_START = ServerKind(
    "next-start", NEXT, ("node_modules/.bin/next", "start", "-H", "127.0.0.1", "-p", "{port}")
)
SVELTEKIT_DEV = ServerKind(
    "sveltekit-dev",
    SVELTEKIT,
    ("node_modules/.bin/vite", "dev", "--host", "127.0.0.1", "--port", "{port}", "--strictPort"),
    ("node_modules/.vite",),
)
SERVERS = (VITE_DEV, NEXT_DEV, NEXT_START, SVELTEKIT_DEV)


class AppServer:
    """A framework's server for one app, in its own process group, stopped by that group's id."""

    def __init__(self, kind: ServerKind, *, port: int | None = None) -> None:
        self.kind = kind
        self.directory = app_dir(kind.spec)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, *, cold: bool = False, wait: bool = True) -> None:
        """Start the server; ``cold`` clears its caches first; ``wait`` until it listens."""
        if cold:
            for cache in self.kind.caches:
                shutil.rmtree(self.directory / cache, ignore_errors=True)
        command = [part.replace("{port}", str(self.port)) for part in self.kind.command]
        self.process = subprocess.Popen(
            command,
            cwd=self.directory,
            env={**os.environ, **SERVER_ENV},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if wait:
            self.wait_listening()

    def wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind.name} exited with {self.process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 1),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind.name} did not listen on {self.port}")

    def warm(self, paths: Sequence[str]) -> None:
        """Have the server compile ``paths`` once (a dev server compiles on first request)."""
        for path in paths:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(self.url(path), timeout=120).read()

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


@contextlib.contextmanager
def running(kind: ServerKind, *, cold: bool = False) -> Iterator[AppServer]:
    server = AppServer(kind)
    server.start(cold=cold)
    try:
        yield server
    finally:
        server.stop()


def painted(png: bytes, colour: tuple[int, int, int]) -> int:
    """How many pixels of ``png`` are exactly ``colour``."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return int(np.all(pixels == np.array(colour, dtype=np.uint8), axis=-1).sum())


def shows_loaded_page(png: bytes) -> bool:
    return painted(png, LOADED_COLOUR) >= MARKER_MIN_PIXELS


def shows_chart(png: bytes) -> bool:
    return painted(png, CHART_COLOUR) >= MARKER_MIN_PIXELS


def shoot(url: str) -> Outcome:
    """The service's capture of ``url`` (the command line's path: no upload)."""
    return asyncio.run(shoot_url(url, LOCAL))


def assert_loaded(outcome: Outcome) -> None:
    """The PNG shows the loaded page, and the service says so too."""
    assert outcome.png is not None, outcome.result
    assert shows_loaded_page(outcome.png), outcome.result
    assert outcome.result.status == "captured", outcome.result
    assert outcome.result.page is not None
    assert outcome.result.page.settled, outcome.result.page
