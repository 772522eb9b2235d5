"""Find and kill the process tree of one browser, so no capture leaves a process behind."""

from __future__ import annotations

import os
import resource
import signal
from pathlib import Path

PROC = Path("/proc")


def find_processes(marker: str) -> list[int]:
    """Processes whose command line contains ``marker`` (a per-capture user-data dir), and their
    descendants (renderers and helpers, which do not all repeat the marker)."""
    table = _process_table()
    found = [pid for pid, (_, cmdline) in table.items() if marker in cmdline]
    frontier = set(found)
    while frontier:
        # A descendant that repeats the marker is a root already: listed once.
        frontier = {pid for pid, (ppid, _) in table.items() if ppid in frontier} - set(found)
        found.extend(frontier)
    return found


def kill_processes(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue


def limit_memory(pids: list[int], limit_bytes: int) -> None:
    """Cap each process's data (heap and private writable mappings, ``RLIMIT_DATA``): past it
    an allocation fails in that process alone. Processes they start later inherit the cap."""
    for pid in pids:
        try:
            resource.prlimit(pid, resource.RLIMIT_DATA, (limit_bytes, limit_bytes))
        except OSError:  # gone already, or not ours to limit
            continue


def _process_table() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, command line) for every process, zombies included: a zombie (its command
    line is empty) still counts as a descendant of the browser that left it, so as a leftover."""
    table: dict[int, tuple[int, str]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # The command name in field 2 may contain spaces and parentheses: split after the last ")".
        ppid = stat.rsplit(")", 1)[1].split()[1]
        table[int(entry.name)] = (int(ppid), cmdline)
    return table
