"""Peak memory and CPU time of process trees, sampled every ``INTERVAL_S`` in a process of its
own (so sampling never holds the measured process's GIL).

    python -m benchlib.sampler ROOT_PID EXCLUDED_PID...

Commands on stdin, one per line: ``start [root] [skip=PID,...]`` resets the peaks (``root``:
count ROOT_PID itself in the total; ``skip``: leave these processes and their descendants out);
``stop`` answers one JSON line with the peaks since ``start``. Watched: every descendant of
ROOT_PID except the excluded processes and their descendants. "browser" is the Chromium processes
among them; "total" is all of them (Python, the Playwright driver, Chromium).
RSS counts shared pages once per process (the sum over-counts); PSS splits them, read less often
because it is dearer to read. CPU is the growth of each watched process's user+system time (from
zero for a process started inside the window); a process's last moments before it exits, after
the last sample, are missed.
"""

from __future__ import annotations

import json
import selectors
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

INTERVAL_S = 0.02
PSS_EVERY = 5  # samples
MB = 1024 * 1024


def is_browser(process: psutil.Process) -> bool:
    return process.name().startswith(("chromium", "headless_shell", "chrome"))


def read_pss(pid: int) -> int:
    """Bytes of proportional set size, from ``smaps_rollup`` (cheaper than full ``smaps``)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


@dataclass
class Peaks:
    include_root: bool = False
    skip: frozenset[int] = frozenset()
    browser_rss: int = 0
    browser_pss: int = 0
    total_rss: int = 0
    total_pss: int = 0
    browser_processes: int = 0
    samples: int = 0
    started: float = field(default_factory=time.time)
    cpu_first: dict[int, float] = field(default_factory=dict)
    cpu_last: dict[int, float] = field(default_factory=dict)

    def add_cpu(self, process: psutil.Process) -> None:
        times = process.cpu_times()
        used = times.user + times.system
        if process.pid not in self.cpu_first:
            born_inside = process.create_time() >= self.started
            self.cpu_first[process.pid] = 0.0 if born_inside else used
        self.cpu_last[process.pid] = used

    def cpu_ms(self) -> float:
        return 1000 * sum(self.cpu_last[pid] - self.cpu_first[pid] for pid in self.cpu_last)

    def as_dict(self) -> dict[str, float]:
        return {
            "browser_rss_mb": round(self.browser_rss / MB, 1),
            "browser_pss_mb": round(self.browser_pss / MB, 1),
            "total_rss_mb": round(self.total_rss / MB, 1),
            "total_pss_mb": round(self.total_pss / MB, 1),
            "browser_processes_max": self.browser_processes,
            "cpu_ms": round(self.cpu_ms(), 1),
            "samples": self.samples,
        }


class Sampler:
    def __init__(self, root: int, excluded: set[int]) -> None:
        self.root = psutil.Process(root)
        self.excluded = excluded | {psutil.Process().pid}

    def watched(self, skip: frozenset[int]) -> list[psutil.Process]:
        processes = []
        skipped = self.excluded | skip
        for child in self.root.children(recursive=True):  # parents come before their children
            try:
                if child.pid in skipped or child.ppid() in skipped:
                    skipped.add(child.pid)
                    continue
            except psutil.Error:
                continue
            processes.append(child)
        return processes

    def sample(self, peaks: Peaks) -> None:
        browser_rss = total_rss = browser_pss = total_pss = 0
        browsers = 0
        with_pss = peaks.samples % PSS_EVERY == 0
        for process in self.watched(peaks.skip):
            try:
                rss = process.memory_info().rss
                browser = is_browser(process)
                peaks.add_cpu(process)
            except psutil.Error:
                continue
            pss = read_pss(process.pid) if with_pss else 0
            total_rss += rss
            total_pss += pss
            if browser:
                browsers += 1
                browser_rss += rss
                browser_pss += pss
        if peaks.include_root:
            total_rss += self.root.memory_info().rss
            total_pss += read_pss(self.root.pid) if with_pss else 0
            peaks.add_cpu(self.root)
        peaks.samples += 1
        peaks.browser_rss = max(peaks.browser_rss, browser_rss)
        peaks.total_rss = max(peaks.total_rss, total_rss)
        peaks.total_pss = max(peaks.total_pss, total_pss)
        peaks.browser_pss = max(peaks.browser_pss, browser_pss)
        peaks.browser_processes = max(peaks.browser_processes, browsers)


def start_window(options: list[str]) -> Peaks:
    skip = frozenset(
        int(pid)
        for option in options
        if option.startswith("skip=")
        for pid in option.removeprefix("skip=").split(",")
        if pid
    )
    return Peaks(include_root="root" in options, skip=skip)


def main() -> None:
    root, *excluded = (int(arg) for arg in sys.argv[1:])
    sampler = Sampler(root, set(excluded))
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin, selectors.EVENT_READ)
    peaks: Peaks | None = None
    while True:
        if selector.select(timeout=INTERVAL_S):
            command = sys.stdin.readline().split()
            if not command:
                return  # stdin closed: the benchmark is done
            if command[0] == "start":
                peaks = start_window(command[1:])
            elif command[0] == "stop":
                if peaks is not None:
                    sampler.sample(peaks)  # the state at the end of the window
                print(json.dumps(peaks.as_dict() if peaks else {}), flush=True)
                peaks = None
        if peaks is not None:
            sampler.sample(peaks)


if __name__ == "__main__":
    main()
