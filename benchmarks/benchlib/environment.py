"""What the figures were measured on."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import resource
import subprocess
import time
from pathlib import Path

import psutil

from benchlib.variants import EXECUTABLE


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return 0.0


def chromium_version() -> str:
    answer = subprocess.run([EXECUTABLE, "--version"], capture_output=True, text=True, timeout=30)
    return answer.stdout.strip() or answer.stderr.strip()


def describe_machine() -> dict[str, str | int | float]:
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count() or 0,
        "memory_gb": memory_gb(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "playwright": importlib.metadata.version("playwright"),
        "chromium": chromium_version(),
        "boto3": importlib.metadata.version("boto3"),
        "moto": importlib.metadata.version("moto"),
        "pillow": importlib.metadata.version("pillow"),
    }


def system_busy_s() -> float:
    """CPU seconds all processes of the machine have spent so far (/proc/stat, every CPU)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_busy_s() -> float:
    """CPU seconds of this process, its reaped children, and its live descendants."""
    total = sum(
        resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


class LoadWatch:
    """How much of the machine's CPU other people's processes took between two readings."""

    def __init__(self) -> None:
        self.readings: dict[str, tuple[float, float, float]] = {}

    def mark(self, name: str) -> None:
        self.readings[name] = (time.monotonic(), system_busy_s(), own_busy_s())

    def foreign_share(self, start: str, end: str) -> float:
        (t0, system0, own0), (t1, system1, own1) = self.readings[start], self.readings[end]
        capacity = (t1 - t0) * (os.cpu_count() or 1)
        return round(max(0.0, (system1 - system0) - (own1 - own0)) / capacity, 3)
