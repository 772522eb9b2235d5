"""Turning the measured captures into the summary, the ratios against the targets, and tables."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from benchlib.variants import Shot

PHASES = ("launch", "navigation", "readiness", "screenshot", "judgement", "upload", "teardown")
SERVICE_VARIANTS = ("warm",)
TARGETS = {
    "warm_vs_floor_static": 1.0,
    "warm_vs_recipe": 0.35,
    "cold_vs_recipe": 1.5,
    "browser_rss_mb": 350.0,
    "judgement_ms": 20.0,
}


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def p50(values: Iterable[float]) -> float:
    return percentile(list(values), 0.5)


def group(shots: Iterable[Shot]) -> dict[str, dict[str, list[Shot]]]:
    grouped: dict[str, dict[str, list[Shot]]] = {}
    for shot in shots:
        grouped.setdefault(shot.page, {}).setdefault(shot.variant, []).append(shot)
    return grouped


def summarise(shots: list[Shot]) -> dict[str, Any]:
    judge_times = [shot.judge_ms for shot in shots if shot.judge_ms is not None]
    return {
        "n": len(shots),
        "p50_ms": round(p50(shot.wall_ms for shot in shots), 1),
        "p95_ms": round(percentile([shot.wall_ms for shot in shots], 0.95), 1),
        "complete": sum(shot.complete for shot in shots),
        "cpu_p50_ms": round(p50(shot.cpu_ms for shot in shots), 1),
        "browser_rss_max_mb": max(shot.memory.get("browser_rss_mb", 0.0) for shot in shots),
        "browser_pss_max_mb": max(shot.memory.get("browser_pss_mb", 0.0) for shot in shots),
        "total_rss_max_mb": max(shot.memory.get("total_rss_mb", 0.0) for shot in shots),
        "total_pss_max_mb": max(shot.memory.get("total_pss_mb", 0.0) for shot in shots),
        "judge_p50_ms": round(p50(judge_times), 1) if judge_times else None,
        "png_bytes": shots[-1].png_bytes,
        "statuses": sorted({shot.status for shot in shots}),
    }


def phase_breakdown(shots: list[Shot]) -> dict[str, float]:
    """p50 of each phase; "capture other" is the capture's time outside the phases (URL check,
    egress proxy; for a blank page, the first attempt and the retry delay); "handler other" is
    the handler's time outside the capture (idempotency, breaker, result event, logs)."""
    breakdown = {phase: p50(shot.timings_ms.get(phase, 0.0) for shot in shots) for phase in PHASES}
    breakdown["capture other"] = p50(
        shot.timings_ms.get("capture_total", 0.0)
        - sum(shot.timings_ms.get(phase, 0.0) for phase in PHASES)
        for shot in shots
    )
    breakdown["handler other"] = p50(
        shot.wall_ms - shot.timings_ms.get("capture_total", 0.0) for shot in shots
    )
    breakdown["total (wall)"] = p50(shot.wall_ms for shot in shots)
    return {name: round(value, 1) for name, value in breakdown.items()}


def cold_breakdown(shots: list[Shot]) -> dict[str, float]:
    parts = ("interpreter", "imports", "init", "invoke")
    return {part: round(p50(shot.timings_ms.get(part, 0.0) for shot in shots), 1) for part in parts}


def ratio(summary: dict[str, Any], page: str, top: str, bottom: str) -> float | None:
    variants = summary.get(page, {})
    if top not in variants or bottom not in variants:
        return None
    return round(float(variants[top]["p50_ms"]) / float(variants[bottom]["p50_ms"]), 3)


def set_ratio(summary: dict[str, Any], pages: Sequence[str], top: str, bottom: str) -> float:
    """Across a set of pages: the sum of the p50s (one capture of each page) over the other's."""
    numerator = sum(float(summary[page][top]["p50_ms"]) for page in pages)
    denominator = sum(float(summary[page][bottom]["p50_ms"]) for page in pages)
    return round(numerator / denominator, 3)


def ratios(summary: dict[str, Any], content: Sequence[str], every: Sequence[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    variants = [v for v in ("warm", "cold") if all(v in summary[p] for p in every)]
    for variant in variants:
        found[variant] = {
            "vs_floor": {page: ratio(summary, page, variant, "floor") for page in every},
            "vs_recipe": {page: ratio(summary, page, variant, "recipe") for page in every},
            "vs_recipe_content_set": set_ratio(summary, content, variant, "recipe"),
            "vs_recipe_all_pages": set_ratio(summary, every, variant, "recipe"),
        }
    return found


FLOOR_LIKE = ("launch", "navigation", "screenshot", "teardown")


def floor_comparison(breakdown: dict[str, dict[str, float]], summary: dict[str, Any]) -> str:
    """The floor's kind of work (start a browser, load, screenshot, exit) inside a warm capture,
    against the floor itself; the rest is what the floor does not do at all."""
    rows = []
    for page, phases in breakdown.items():
        same = sum(phases[name] for name in FLOOR_LIKE)
        floor = summary[page]["floor"]["p50_ms"]
        rows.append((page, floor, same, round(same / floor, 2), phases["total (wall)"] - same))
    header = (
        "page",
        "floor p50 ms",
        "warm launch+navigation+screenshot+teardown ms",
        "ratio",
        "warm rest (readiness, judgement, upload, handler) ms",
    )
    return markdown_table(header, rows)


def judge_targets(
    summary: dict[str, Any],
    found: dict[str, Any],
    judgement: dict[str, Any],
    drift: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    warm = found["warm"]
    checks = [
        ("warm p50 / floor p50, static page", warm["vs_floor"]["static"], "<=", 1.0),
        ("warm p50 / recipe p50, content pages", warm["vs_recipe_content_set"], "<=", 0.35),
        ("warm p50 / recipe p50, all pages incl. blank", warm["vs_recipe_all_pages"], "<=", 0.35),
    ]
    if "cold" in found:
        cold = found["cold"]
        checks.append(
            ("cold p50 / recipe p50, content pages", cold["vs_recipe_content_set"], "<=", 1.5)
        )
        checks.append(("cold p50 / recipe p50, all pages", cold["vs_recipe_all_pages"], "<=", 1.5))
    for variant in ("warm", "cold"):
        peaks = [
            summary[p][variant]["browser_rss_max_mb"] for p in summary if variant in summary[p]
        ]
        if peaks:
            checks.append(
                (f"{variant}: peak browser-tree RSS, worst page (MB)", max(peaks), "<=", 350.0)
            )
    worst_judge = max(entry["p50_ms"] for entry in judgement.values())
    checks.append(("judge() p50, worst page (ms)", worst_judge, "<=", 20.0))
    if drift:
        growth = drift["browser_rss_growth_mb"]
        checks.append(("browser-tree RSS growth over the drift run (MB)", growth, "<=", 10.0))
    return [
        {"target": name, "value": value, "limit": f"{op} {limit}", "met": value <= limit}
        for name, value, op, limit in checks
    ]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}".rstrip("0").rstrip(".")
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def latency_table(summary: dict[str, Any], variants: Sequence[str]) -> str:
    rows = []
    for page, by_variant in summary.items():
        for variant in variants:
            entry = by_variant.get(variant)
            if entry is None:
                continue
            rows.append(
                (
                    page,
                    variant,
                    entry["n"],
                    entry["p50_ms"],
                    entry["p95_ms"],
                    f"{entry['complete']}/{entry['n']}",
                    entry["cpu_p50_ms"],
                    entry["judge_p50_ms"],
                    entry["browser_rss_max_mb"],
                    entry["browser_pss_max_mb"],
                    entry["total_rss_max_mb"],
                    entry["total_pss_max_mb"],
                )
            )
    header = (
        "page",
        "variant",
        "n",
        "p50 ms",
        "p95 ms",
        "complete",
        "CPU p50 ms",
        "judge p50 ms",
        "browser RSS max MB",
        "browser PSS max MB",
        "all processes RSS max MB",
        "all processes PSS max MB",
    )
    return markdown_table(header, rows)


def breakdown_table(breakdowns: dict[str, dict[str, float]]) -> str:
    pages = list(breakdowns)
    names = list(next(iter(breakdowns.values())))
    rows = [(name, *(breakdowns[page][name] for page in pages)) for name in names]
    return markdown_table(("phase (p50 ms)", *pages), rows)


def targets_table(checks: list[dict[str, Any]]) -> str:
    rows = [(c["target"], c["value"], c["limit"], "met" if c["met"] else "MISSED") for c in checks]
    return markdown_table(("target", "measured", "limit", "verdict"), rows)


def mean(values: Iterable[float]) -> float:
    return statistics.fmean(values)


def linear_slope(values: Sequence[float]) -> float:
    """Least-squares growth per step of a series."""
    if len(values) < 2:
        return 0.0
    return statistics.linear_regression(range(len(values)), values).slope
