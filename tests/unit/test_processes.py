"""find_processes / kill_processes against real process trees of ``sleep``."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from lambda_fn.capture.processes import find_processes, kill_processes

# A shell waiting for two children, one a subshell with a child of its own: three levels deep, and
# the ``sleep`` processes do not carry the marker the shell was given as ``$0``.
TREE_SCRIPT = "(sleep 60 & wait) & sleep 60 & wait"
# A parent that leaves its exited child unreaped: a zombie below a marked process.
ZOMBIE_SCRIPT = "import os, time\nif os.fork() == 0:\n    os._exit(0)\ntime.sleep(60)\n"


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def marker() -> str:
    return f"/tmp/preview-processes-test-{uuid.uuid4().hex}"


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start processes that are killed and reaped whatever the test does."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*argv: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(argv)
        started.append(process)
        return process

    yield start
    for process in started:
        try:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
        except psutil.NoSuchProcess:
            pass
        process.kill()
        process.wait()


def live_descendants(pid: int) -> set[int]:
    return {
        child.pid
        for child in psutil.Process(pid).children(recursive=True)
        if child.status() != psutil.STATUS_ZOMBIE
    }


def test_finds_the_marked_root_and_all_its_descendants(
    marker: str, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    root = spawn("sh", "-c", TREE_SCRIPT, marker)
    wait_for(lambda: len(live_descendants(root.pid)) == 3, "the process tree")
    found = find_processes(marker)
    assert set(found) == {root.pid} | live_descendants(root.pid)


def test_lists_each_process_once_when_descendants_repeat_the_marker(
    marker: str, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    # Chromium's helpers repeat the browser's --user-data-dir on their own command lines.
    root = spawn("sh", "-c", 'sh -c "sleep 60 & wait" "$0" & wait', marker)
    wait_for(lambda: len(live_descendants(root.pid)) == 2, "the process tree")
    found = find_processes(marker)
    assert sorted(found) == sorted({root.pid} | live_descendants(root.pid))


def test_kill_processes_kills_the_whole_tree(
    marker: str, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    root = spawn("sh", "-c", TREE_SCRIPT, marker)
    wait_for(lambda: len(live_descendants(root.pid)) == 3, "the process tree")
    tree = find_processes(marker)
    kill_processes(tree)
    assert root.wait(timeout=5) == -9
    wait_for(lambda: all(is_gone(pid) for pid in tree), "every process of the tree to die")
    assert find_processes(marker) == []


def test_unrelated_processes_are_not_found(
    marker: str, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    other = spawn("sh", "-c", TREE_SCRIPT, f"/tmp/preview-processes-test-{uuid.uuid4().hex}")
    ours = spawn("sh", "-c", "sleep 60 & wait", marker)
    wait_for(lambda: len(live_descendants(other.pid)) == 3, "the other tree")
    wait_for(lambda: len(live_descendants(ours.pid)) == 1, "our tree")
    found = set(find_processes(marker))
    assert found == {ours.pid} | live_descendants(ours.pid)
    assert not found & ({other.pid} | live_descendants(other.pid))


def test_zombie_descendant_is_found_as_a_leftover(
    marker: str, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    parent = spawn(sys.executable, "-c", ZOMBIE_SCRIPT, marker)

    def zombies() -> list[int]:
        return [
            child.pid
            for child in psutil.Process(parent.pid).children()
            if child.status() == psutil.STATUS_ZOMBIE
        ]

    wait_for(lambda: len(zombies()) == 1, "the zombie child")
    # An unreaped child is a leftover like any other: a warm environment must not collect them.
    assert find_processes(marker) == [parent.pid, *zombies()]


def test_nothing_is_found_for_a_marker_no_process_carries(marker: str) -> None:
    assert find_processes(marker) == []


def test_killing_pids_that_no_longer_exist_is_harmless() -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    kill_processes([pid_max + 1, pid_max + 2])
