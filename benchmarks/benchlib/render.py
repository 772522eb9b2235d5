"""The benchmark's printed report: Markdown, ready to paste into docs/performance.md."""

from __future__ import annotations

from typing import Any

from benchlib.report import (
    breakdown_table,
    floor_comparison,
    latency_table,
    markdown_table,
    targets_table,
)

VARIANTS = ("warm", "cold", "recipe", "floor")


def machine_lines(analysis: dict[str, Any]) -> list[str]:
    machine = analysis["machine"]
    load = analysis["load_average"]
    foreign = analysis["foreign_cpu_share"]
    return [
        f"- Machine: {machine['cpu']}, {machine['cpus']} CPUs, {machine['memory_gb']} GB, "
        f"Linux {machine['kernel']}",
        f"- {machine['chromium']}; Python {machine['python']}; Playwright {machine['playwright']}; "
        f"boto3 {machine['boto3']}; moto {machine['moto']}; Pillow {machine['pillow']}",
        f"- Run: {analysis['seconds']} s; load average before {load['before'][0]:.2f}, "
        f"after {load['after'][0]:.2f}; plan {analysis['plan']}",
        f"- Share of the machine's CPU taken by other processes (not this run's): "
        f"{foreign['run']:.0%} over the run, {foreign['scaling']:.0%} during the CPU scaling",
    ]


def ratio_table(analysis: dict[str, Any]) -> str:
    found = analysis["ratios"]
    pages = list(analysis["summary"])
    columns = [
        (f"{variant} / {other}", variant, f"vs_{other}")
        for variant in ("warm", "cold")
        if variant in found
        for other in ("floor", "recipe")
    ]
    rows = [(page, *(found[variant][key][page] for _, variant, key in columns)) for page in pages]
    rows.append(
        (
            "content pages (sum of p50s)",
            *(
                found[variant]["vs_recipe_content_set"] if key == "vs_recipe" else None
                for _, variant, key in columns
            ),
        )
    )
    rows.append(
        (
            "all pages (sum of p50s)",
            *(
                found[variant]["vs_recipe_all_pages"] if key == "vs_recipe" else None
                for _, variant, key in columns
            ),
        )
    )
    return markdown_table(("p50 ratio", *(name for name, _, _ in columns)), rows)


def judgement_table(judgement: dict[str, Any]) -> str:
    rows = [(page, e["png_bytes"], e["p50_ms"], e["p95_ms"]) for page, e in judgement.items()]
    return markdown_table(("page", "PNG bytes", "judge() p50 ms", "p95 ms"), rows)


def drift_lines(drift: dict[str, Any] | None) -> list[str]:
    if not drift:
        return ["(drift check skipped)"]
    before, after = drift["before"], drift["after"]
    rows = [(name, before[name], after[name]) for name in before]
    return [
        f"{drift['captures']} warm captures over the content pages; statuses {drift['statuses']}.",
        "",
        markdown_table(("", "before", "after"), rows),
        "",
        f"- Browser-tree peak RSS, first vs last captures of the same pages: "
        f"{drift['browser_rss_first_mb']} → {drift['browser_rss_last_mb']} MB "
        f"({drift['browser_rss_growth_mb']:+} MB)",
        f"- Python RSS trend: {drift['python_rss_slope_kb_per_capture']:+} KB per capture; "
        f"Playwright driver RSS trend: {drift['driver_rss_slope_kb_per_capture']:+} KB per capture "
        f"(range {drift['driver_rss_min_max_mb'][0]}-{drift['driver_rss_min_max_mb'][1]} MB; "
        f"after each quarter of the run: {drift['driver_rss_by_quarter_mb']} MB)",
        f"- Wall p50, first vs last captures: {drift['wall_first_p50_ms']} → "
        f"{drift['wall_last_p50_ms']} ms",
    ]


def scaling_table(scaling: dict[str, Any]) -> str:
    rows = [
        (f"{label} CPU", kind, e["n"], e["p50_ms"], e["mean_ms"], e["cpu_p50_ms"], e["busy_share"])
        for label, kinds in scaling.items()
        for kind, e in kinds.items()
    ]
    header = ("CPUs", "capture", "n", "p50 ms", "mean ms", "CPU p50 ms", "busy share")
    return markdown_table(header, rows)


def cost_table(model: dict[str, Any]) -> str:
    rows = [
        (
            row["memory_mb"],
            row["vcpus"],
            row["warm_ms"],
            f"${row['warm_usd_per_1000']:.4f}",
            row["cold_ms"],
            f"${row['cold_usd_per_1000']:.4f}",
            "yes" if row["fits"] else "no",
        )
        for row in model["rows"]
    ]
    header = (
        "memory MB",
        "vCPU",
        "warm ms",
        "warm $/1,000",
        "cold ms",
        "cold $/1,000",
        f">= 1.5 x peak PSS ({model['peak_pss_mb']} MB)",
    )
    return markdown_table(header, rows)


def render(analysis: dict[str, Any], profile: str | None = None) -> str:
    cold_parts = analysis["cold_breakdown"]
    sections = [
        "## Machine",
        *machine_lines(analysis),
        "",
        "## Latency, CPU and memory per capture",
        latency_table(analysis["summary"], VARIANTS),
        "",
        "## Ratios (p50 over p50, same run)",
        ratio_table(analysis),
        "",
        "## Targets",
        targets_table(analysis["targets"]),
        "",
    ]
    if "warm" in analysis["breakdown"]:
        sections += [
            "## The floor's work inside a warm capture (p50s)",
            floor_comparison(analysis["breakdown"]["warm"], analysis["summary"]),
            "",
        ]
    for variant, breakdown in analysis["breakdown"].items():
        sections += [f"## Phases, {variant}", breakdown_table(breakdown), ""]
    sections += [
        "## Cold start parts",
        breakdown_table(cold_parts),
        "",
        "## Judgement",
        judgement_table(analysis["judgement"]),
        "",
        "## Drift",
        *drift_lines(analysis["drift"]),
        "",
        "## CPU scaling (function processes pinned to one CPU, or free on both)",
        scaling_table(analysis["scaling"]),
        "",
        "## Cost per 1,000 captures",
        cost_table(analysis["cost"]),
        "",
        f"Recommended memory: {analysis['cost']['recommended_mb']} MB",
    ]
    if profile:
        sections += ["", "Profile of warm captures: benchmarks/results/profile-warm.txt"]
    return "\n".join(sections)
