"""The Docker side of the image tier: the engine, the image built from this tree, and containers
run the way Lambda runs the function (read-only root, only /tmp writable, a non-root uid, memory
and process limits), invoked through the Runtime Interface Emulator's HTTP API.

Containers use the host's network so that the emulator, the AWS emulator and the page server all
listen on 127.0.0.1 only; nothing here binds another address on the host.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("PREVIEW_CACHE", "/var/cache/preview-screenshot-service"))
SAM_VENV = CACHE / "sam"
IMAGE = "preview-screenshot-service:test"
RIE_DIR = "/aws-lambda-rie"
INVOCATIONS = "/2015-03-31/functions/function/invocations"
# What Lambda gives a 2 GiB function, and its limit of 1,024 processes and threads.
MEMORY = "2g"
PIDS_LIMIT = "1024"
LAMBDA_USER = "993:990"  # any non-root uid: Lambda's is not the image's 10001


def docker(*args: str, timeout: float = 600, check: bool = True) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@contextmanager
def docker_engine(log: Path) -> Iterator[None]:
    """The engine that answers, or one started here (and stopped here, by its own pid)."""
    if engine_answers():
        yield
        return
    dockerd = shutil.which("dockerd")
    assert dockerd is not None, "no Docker engine: scripts/bootstrap.sh installs docker.io"
    assert os.geteuid() == 0, "no Docker engine answers, and starting one needs root"
    with log.open("wb") as output:
        process = subprocess.Popen([dockerd], stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not engine_answers():
            assert process.poll() is None, f"dockerd exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"dockerd did not answer: {log.read_text()[-2000:]}"
            time.sleep(0.5)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def build_image() -> str:
    """The base (pulled, or the local stand-in), then Dockerfile.lambda from this tree."""
    subprocess.run([str(ROOT / "scripts" / "base-image.sh")], check=True, timeout=1200)
    docker(
        "build",
        "--quiet",
        "--network",
        "host",
        "-f",
        "Dockerfile.lambda",
        "-t",
        IMAGE,
        str(ROOT),
        timeout=1800,
    )
    return IMAGE


def rie_directory() -> Path:
    """The Runtime Interface Emulator from the aws-sam-cli wheel, in a directory of its own
    (mounted as /aws-lambda-rie)."""
    machine = {"x86_64": "x86_64", "aarch64": "arm64"}[os.uname().machine]
    (source,) = SAM_VENV.glob(
        f"lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-{machine}"
    )
    target = CACHE / "rie"
    target.mkdir(parents=True, exist_ok=True)
    binary = target / "aws-lambda-rie"
    if not binary.exists() or binary.stat().st_size != source.stat().st_size:
        shutil.copy2(source, binary)
    binary.chmod(0o755)
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    state: str
    uid: int
    command: str


@dataclass(frozen=True)
class LambdaContainer:
    id: str
    url: str

    def invoke(self, event: Any, *, timeout: float = 180) -> Any:
        request = urllib.request.Request(
            self.url + INVOCATIONS, data=json.dumps(event).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def processes(self) -> list[Process]:
        """The container's processes as the host sees them (host pids), zombies included."""
        listing = docker("top", self.id, "-eo", "pid,ppid,stat,uid,args")
        found = []
        for line in listing.splitlines()[1:]:
            pid, ppid, state, uid, command = line.split(None, 4)
            found.append(Process(int(pid), int(ppid), state, int(uid), command))
        return found

    def tmp_entries(self) -> list[str]:
        return docker("exec", self.id, "find", "/tmp", "-mindepth", "1").split()

    def rss_bytes(self) -> dict[str, int]:
        """Resident memory of each live process, by command (host /proc)."""
        sizes: dict[str, int] = {}
        for process in self.processes():
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    key = f"{process.pid} {process.command[:60]}"
                    sizes[key] = int(line.split()[1]) * 1024
        return sizes

    def logs(self) -> str:
        return docker("logs", self.id, check=False)


@contextmanager
def lambda_container(
    environment: dict[str, str],
    *,
    user: str | None = LAMBDA_USER,
    image: str = IMAGE,
) -> Iterator[LambdaContainer]:
    """The image under the emulator, as Lambda runs it: the emulator is the entry point and runs
    the image's own ENTRYPOINT and CMD; read-only root, /tmp a tmpfs, 2 GiB, 1,024 processes."""
    config = json.loads(docker("image", "inspect", image))[0]["Config"]
    port, api_port = free_port(), free_port()
    name = f"preview-image-test-{uuid.uuid4().hex[:12]}"
    variables = {
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "120",
        **environment,
    }
    args = ["run", "--detach", "--rm", "--name", name, "--network", "host"]
    args += ["--read-only", "--tmpfs", "/tmp:rw,size=512m", "--memory", MEMORY]
    args += ["--pids-limit", PIDS_LIMIT, "-v", f"{rie_directory()}:{RIE_DIR}:ro"]
    args += ["--entrypoint", f"{RIE_DIR}/aws-lambda-rie"]
    if user is not None:
        args += ["--user", user]
    for key, value in variables.items():
        args += ["-e", f"{key}={value}"]
    args += [image, "--runtime-interface-emulator-address", f"127.0.0.1:{port}"]
    args += ["--runtime-api-address", f"127.0.0.1:{api_port}"]
    args += [*config["Entrypoint"], *config["Cmd"]]
    container = LambdaContainer(docker(*args).strip(), f"http://127.0.0.1:{port}")
    try:
        wait_for_port(port)
        yield container
    finally:
        docker("rm", "--force", container.id, check=False)


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on 127.0.0.1:{port}"
            time.sleep(0.1)
