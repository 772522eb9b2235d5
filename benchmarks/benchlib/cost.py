"""Lambda cost per 1,000 captures from measured durations.

Lambda gives a function CPU in proportion to its memory: 1,769 MB is one vCPU's worth. The
benchmark measures the same captures on one CPU of this machine (pinned) and on two, and the
share ``u`` of the one-CPU wall time that the process tree was on CPU. Durations at ``v`` vCPUs:

- v >= 2: the two-CPU time;
- 1 <= v < 2: between the one- and two-CPU times, linear in 1/v (time falls as 1/v would);
- v < 1: the CPU part stretches by 1/v, the waiting part does not: T1 * (u / v + 1 - u).

A Lambda vCPU is a share of a different host core than this VM's; the model scales this
machine's measurements, it does not predict another CPU's speed.
"""

from __future__ import annotations

from typing import Any

GB_SECOND_USD = 0.0000166667  # x86, first pricing tier
REQUEST_USD = 0.20 / 1_000_000
MB_PER_VCPU = 1769
MEMORY_SIZES_MB = (1024, 1536, 2048, 3008)
CAPTURES = 1000
HEADROOM = 1.5  # memory size >= this many times the peak PSS of all the function's processes


def vcpus(memory_mb: int) -> float:
    return memory_mb / MB_PER_VCPU


def modelled_ms(one_cpu_ms: float, two_cpu_ms: float, busy_share: float, v: float) -> float:
    if v >= 2:
        return two_cpu_ms
    if v >= 1:
        return two_cpu_ms + (one_cpu_ms - two_cpu_ms) * (1 / v - 0.5) / 0.5
    return one_cpu_ms * (busy_share / v + 1 - busy_share)


def cost_usd(memory_mb: int, duration_ms: float, count: int = CAPTURES) -> float:
    compute = memory_mb / 1024 * duration_ms / 1000 * GB_SECOND_USD
    return count * (compute + REQUEST_USD)


def cost_model(measured: dict[str, dict[str, float]], peak_pss_mb: float) -> dict[str, Any]:
    """``measured[kind]`` for kind in warm/cold: one_cpu_ms, two_cpu_ms, busy_share."""
    rows = []
    for memory in MEMORY_SIZES_MB:
        v = vcpus(memory)
        row: dict[str, Any] = {"memory_mb": memory, "vcpus": round(v, 2)}
        for kind, numbers in measured.items():
            duration = modelled_ms(
                numbers["one_cpu_ms"], numbers["two_cpu_ms"], numbers["busy_share"], v
            )
            row[f"{kind}_ms"] = round(duration)
            row[f"{kind}_usd_per_1000"] = round(cost_usd(memory, duration), 4)
        row["fits"] = memory >= HEADROOM * peak_pss_mb
        rows.append(row)
    return {"rows": rows, "recommended_mb": recommend(rows), "peak_pss_mb": peak_pss_mb}


def recommend(rows: list[dict[str, Any]]) -> int:
    """The cheapest size that fits with headroom and has at least one whole vCPU. Below one vCPU
    Python, the driver, the browser and its renderer share a fraction of a core, and the model
    extrapolates beyond what was measured instead of interpolating between two measurements."""
    candidates = [row for row in rows if row["fits"] and row["vcpus"] >= 1] or rows
    return int(min(candidates, key=lambda row: row["warm_usd_per_1000"])["memory_mb"])
