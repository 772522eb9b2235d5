"""The shipped image: its size by layer, and its cold and warm starts inside the container, side by
side with the same function in a process on this machine, in one run.

    .venv/bin/python benchmarks/image.py [--cold N] [--warm N]

Needs a Docker engine (started here when none answers, stopped here) and builds the image from the
tree first, as the image tier does. Every cold start is a new container under the Runtime Interface
Emulator, run as Lambda runs the function (read-only root, tmpfs /tmp, a non-root uid, 2 GiB):
first at the CPU share Lambda gives 2 GiB (1.16 vCPUs), then with no CPU limit, which is what the
in-process variant (``benchlib.lambda_process`` on the host) has. Rounds rotate the three so machine
load hits them alike. The disk is warm: one untimed start of each comes first.

The emulator starts the runtime on the first invoke, so a container's runtime init is the first
invoke's wall time less the capture (the result's ``duration_ms``) and less the median overhead
around a warm capture (emulator, idempotency, result event), measured in the same container.
Completeness is checked in the stored PNG's pixels (the benchmark pages' probes).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchlib import report  # noqa: E402
from benchlib.environment import LoadWatch, describe_machine  # noqa: E402
from benchlib.helpers import read_json_line, start_module, stop  # noqa: E402
from benchlib.site import CONTENT_PAGES, Page, build_routes, serve_routes  # noqa: E402
from benchlib.variants import function_environment  # noqa: E402

from lambda_fn.local.emulator import REGION, LocalAws, local_aws  # noqa: E402
from tests.image import engine  # noqa: E402

LAMBDA_CPUS = "1.16"  # the share of vCPUs Lambda gives a 2,048 MB function
CONFIGURATIONS = ("container 1.16 CPUs", "container, no CPU limit", "in-process")
PAGES = tuple(page for page in CONTENT_PAGES if page.name in {"static", "client"})


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=5, help="cold starts per configuration")
    parser.add_argument("--warm", type=int, default=5, help="warm captures per page after each")
    return parser.parse_args()


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def size_mb(text: str) -> float:
    """Docker's human sizes ("288MB", "1.42kB", "0B"), which use powers of 1,000."""
    number = text.rstrip("kMGTB")
    unit = text[len(number) :].removesuffix("B")
    return float(number) * 1000 ** " kMGT".index(unit or " ") / 1e6


def history(image: str) -> list[dict[str, str]]:
    lines = engine.docker("history", "--no-trunc", "--format", "{{json .}}", image).splitlines()
    return [json.loads(line) for line in lines]


def layer_sizes(image: str, base: str) -> list[tuple[str, float]]:
    """The image's layers of 50 kB or more, largest first, each named by its instruction; the
    base image's layers (the last entries of the history) summed as one."""
    own = history(image)[: -len(history(base))]
    layers = [("base image " + base, engine.image_size_mb(base))]
    for entry in own:
        step = " ".join(entry["CreatedBy"].split()).split(" -c ", 1)[-1].removeprefix("#(nop) ")
        if size_mb(entry["Size"]) >= 0.05:
            layers.append((step[:100].replace("|", "/"), size_mb(entry["Size"])))
    return sorted(layers, key=lambda row: -row[1])


class Pixels:
    """Stored PNGs read back from the emulator and checked against the page's probes."""

    def __init__(self, aws: LocalAws) -> None:
        self.s3, self.bucket = aws.client("s3"), aws.bucket

    def complete(self, page: Page, result: dict[str, Any]) -> bool:
        key = (result.get("image") or {}).get("key")
        if result.get("status") != "captured" or not key:
            return False
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return page.is_complete(body)


def event(url: str) -> dict[str, Any]:
    return {"job_id": f"bench-{uuid.uuid4().hex[:12]}", "stage": "ready", "preview_url": url}


def container_run(
    aws: LocalAws, base_url: str, pixels: Pixels, cpus: str | None, warm: int
) -> dict[str, Any]:
    environment = {**aws.environment(), "AWS_REGION": REGION, "ALLOW_PRIVATE_URLS": "true"}
    with engine.lambda_container(environment, cpus=cpus) as function:
        first = PAGES[0]
        started = time.perf_counter()
        result = function.invoke(event(base_url + first.path))
        cold_wall_ms = (time.perf_counter() - started) * 1000
        run: dict[str, Any] = {
            "cold_wall_ms": cold_wall_ms,
            "first_capture_ms": result.get("duration_ms"),
            "complete": [pixels.complete(first, result)],
            "warm": {page.name: [] for page in PAGES},
            "overhead_ms": [],
        }
        for _ in range(warm):
            for page in PAGES:
                started = time.perf_counter()
                result = function.invoke(event(base_url + page.path))
                wall_ms = (time.perf_counter() - started) * 1000
                run["warm"][page.name].append(wall_ms)
                run["overhead_ms"].append(wall_ms - float(result.get("duration_ms") or 0))
                run["complete"].append(pixels.complete(page, result))
    capture_ms = float(run["first_capture_ms"] or 0)
    run["init_ms"] = cold_wall_ms - capture_ms - report.p50(run["overhead_ms"] or [0.0])
    return run


def in_process_run(aws: LocalAws, base_url: str, pixels: Pixels, warm: int) -> dict[str, Any]:
    """The function in a new Python process on the host: interpreter, imports, init, then the
    same captures (``benchlib.lambda_process``)."""
    urls = [base_url + page.path for page in PAGES]
    env = function_environment(aws.environment())
    started = time.perf_counter()
    process = start_module(
        "benchlib.lambda_process",
        f"bench-{uuid.uuid4().hex[:8]}",
        *urls,
        "--repeat",
        str(warm),
        env=env,
    )
    try:
        lines = [read_json_line(process)]
        cold_wall_ms = (time.perf_counter() - started) * 1000
        for _ in range(len(PAGES) - 1 + warm * len(PAGES)):  # each waits for a line on stdin
            assert process.stdin is not None
            process.stdin.write("\n")
            process.stdin.flush()
            lines.append(read_json_line(process))
    finally:
        stop(process)
    by_url = {base_url + page.path: page for page in PAGES}
    first = lines[0]
    run: dict[str, Any] = {
        "cold_wall_ms": cold_wall_ms,
        "first_capture_ms": first["duration_ms"],
        "init_ms": cold_wall_ms - float(first["wall_ms"]),
        "complete": [pixels.complete(by_url[line["url"]], line_result(line)) for line in lines],
        "warm": {page.name: [] for page in PAGES},
        "overhead_ms": [],
    }
    for line in lines[len(PAGES) :]:
        run["warm"][by_url[line["url"]].name].append(float(line["wall_ms"]))
    return run


def line_result(line: dict[str, Any]) -> dict[str, Any]:
    return {"status": line["status"], "image": {"key": line["key"]}}


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float | str]]:
    summary: dict[str, dict[str, float | str]] = {}
    for name, entries in runs.items():
        complete = [flag for run in entries for flag in run["complete"]]
        row: dict[str, float | str] = {
            "cold starts": len(entries),
            "runtime init p50 ms": report.p50([run["init_ms"] for run in entries]),
            "runtime init max ms": max(run["init_ms"] for run in entries),
            "first capture p50 ms": report.p50([run["first_capture_ms"] for run in entries]),
            "cold invoke p50 ms": report.p50([run["cold_wall_ms"] for run in entries]),
        }
        for page in PAGES:
            row[f"warm {page.name} p50 ms"] = report.p50(
                [value for run in entries for value in run["warm"][page.name]]
            )
        row["complete"] = f"{sum(complete)}/{len(complete)}"
        summary[name] = row
    return summary


def render(
    machine: dict[str, Any],
    layers: list[tuple[str, float]],
    summary: dict[str, Any],
    foreign_share: float,
) -> str:
    total = sum(size for _, size in layers)
    columns = list(next(iter(summary.values())))
    reference = summary["in-process"]
    ratios = [
        (name, *(float(row[c]) / float(reference[c]) for c in columns if c.endswith("p50 ms")))
        for name, row in summary.items()
        if name != "in-process"
    ]
    p50_columns = [c for c in columns if c.endswith("p50 ms")]
    return "\n\n".join(
        [
            "### Machine\n" + "\n".join(f"- {key}: {value}" for key, value in machine.items()),
            "- Share of the machine's CPU taken by other processes during the rounds: "
            f"{foreign_share:.0%}",
            f"### Image layers ({total:,.0f} MB)\n"
            + report.markdown_table(("layer", "MB"), layers),
            "### Cold and warm starts\n"
            + report.markdown_table(
                ("configuration", *columns),
                [(name, *row.values()) for name, row in summary.items()],
            ),
            "### Ratios to in-process (p50 over p50, same run)\n"
            + report.markdown_table(("configuration", *p50_columns), ratios),
        ]
    )


@contextmanager
def lab() -> Iterator[tuple[LocalAws, str]]:
    with (
        tempfile.TemporaryDirectory(prefix="image-bench-") as scratch,
        engine.docker_engine(Path(scratch) / "dockerd.log"),
    ):
        progress("building the image")
        engine.build_image()
        with local_aws() as aws, serve_routes(build_routes()) as base_url:
            yield aws, base_url


def main() -> None:
    args = parse_args()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGURATIONS}
    with lab() as (aws, base_url):
        pixels = Pixels(aws)
        layers = layer_sizes(engine.IMAGE, engine.BASE_IMAGE)
        variants = {
            CONFIGURATIONS[0]: lambda: container_run(aws, base_url, pixels, LAMBDA_CPUS, args.warm),
            CONFIGURATIONS[1]: lambda: container_run(aws, base_url, pixels, None, args.warm),
            CONFIGURATIONS[2]: lambda: in_process_run(aws, base_url, pixels, args.warm),
        }
        for run in variants.values():  # the warm disk: untimed
            run()
        watch = LoadWatch()
        watch.mark("start")
        for number in range(args.cold):
            names = list(CONFIGURATIONS[number % 3 :] + CONFIGURATIONS[: number % 3])
            for name in names:
                runs[name].append(variants[name]())
            progress(f"round {number + 1}/{args.cold} done")
        watch.mark("end")
    share = watch.foreign_share("start", "end")
    print(render(describe_machine(), layers, summarise(runs), share))


if __name__ == "__main__":
    main()
