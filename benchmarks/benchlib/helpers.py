"""The benchmark's helper processes (remote side, memory sampler): started, talked to, stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parents[1]
STOP_TIMEOUT_S = 10


def start_module(
    module: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``python -m module`` from the benchmarks folder, talking JSON lines over stdin/stdout."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=BENCH_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def stop(process: subprocess.Popen[str]) -> None:
    """Close its stdin (the signal to finish), wait, and kill it if it does not finish."""
    if process.stdin is not None:
        with suppress(BrokenPipeError):
            process.stdin.close()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def read_json_line(process: subprocess.Popen[str]) -> Any:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"{process.args!r} ended without answering (exit {process.poll()})")
    return json.loads(line)


@dataclass(frozen=True, slots=True)
class Remote:
    pid: int
    base_url: str
    aws_env: dict[str, str]


@contextmanager
def remote_side() -> Iterator[Remote]:
    """The page server and the AWS emulator, in their own process."""
    process = start_module("benchlib.remote")
    try:
        ready = read_json_line(process)
        yield Remote(pid=process.pid, base_url=ready["base_url"], aws_env=ready["aws_env"])
    finally:
        stop(process)


class MemorySampler:
    """Client of ``benchlib.sampler``: ``with sampler.window(root=...) as peaks:`` fills peaks."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    def _send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    @contextmanager
    def window(self, *, root: bool, skip: tuple[int, ...] = ()) -> Iterator[dict[str, float]]:
        peaks: dict[str, float] = {}
        options = ["root"] if root else []
        if skip:
            options.append("skip=" + ",".join(map(str, skip)))
        self._send(" ".join(["start", *options]))
        try:
            yield peaks
        finally:
            self._send("stop")
            peaks.update(read_json_line(self.process))


@contextmanager
def memory_sampler(excluded: list[int]) -> Iterator[MemorySampler]:
    process = start_module("benchlib.sampler", str(os.getpid()), *map(str, excluded))
    try:
        yield MemorySampler(process)
    finally:
        stop(process)
