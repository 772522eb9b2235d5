"""``make demo``: a two-stage build of the bundled sample app, end to end on this machine.

The app is served on loopback as it is at ``checks`` and, changed (a seventh trip, a new
headline), at ``ready``. The service (the handler's ``Service``, real headless shell) captures
both against the local AWS emulator. Prints both results, the second with its diff against the
first, and writes ``out/timeline.html``: both screenshots and thumbnails, the changed regions
outlined, to open in a browser.
"""

from __future__ import annotations

import contextlib
import functools
import html
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lambda_fn.config import Settings
from lambda_fn.local.context import LocalContext
from lambda_fn.local.emulator import LocalAws, local_aws
from lambda_fn.observability import logger
from lambda_fn.service import Service

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "demo" / "app" / "index.html"
OUT = ROOT / "out"
JOB_ID = "demo-build-1"
STAGES = ("checks", "ready")
# What the build changed between the stages: one more trip, and the headline that counts them.
NEW_TRIP = '{ name: "Faroe islands", days: 8, done: 35, tags: ["cliffs"] },\n    '
CHANGES = (
    ('{ name: "Atlas mountains"', NEW_TRIP + '{ name: "Atlas mountains"'),
    ("Six trips planned · 36 days", "Seven trips planned · 44 days"),
)
SCALE = 0.5  # screenshots are shown at half size on the timeline page
OUTLINE = "#ff00aa"  # the changed regions' outline on the timeline page


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


def stage_sources() -> dict[str, str]:
    """The app's page at each stage: as bundled, then with the build's changes."""
    checks = APP.read_text()
    ready = checks
    for old, new in CHANGES:
        assert old in ready, old
        ready = ready.replace(old, new)
    return {"checks": checks, "ready": ready}


@contextlib.contextmanager
def serve_stages() -> Iterator[str]:
    """Serve ``/<stage>/`` on a loopback port; yields the base URL."""
    with tempfile.TemporaryDirectory(prefix="demo-app-") as root:
        for stage, source in stage_sources().items():
            (Path(root) / stage).mkdir()
            (Path(root) / stage / "index.html").write_text(source)
        handler = functools.partial(QuietHandler, directory=root)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


def two_stage_build(aws: LocalAws, base_url: str) -> list[dict[str, Any]]:
    """Capture each stage in one warm service, as the pipeline would invoke it."""
    # boto3 reads the emulator's endpoint and credentials from the environment. The sample app
    # is on loopback, which the URL policy refuses in production.
    os.environ.update({**aws.environment(), "ALLOW_PRIVATE_URLS": "true"})
    service = Service.start(Settings.from_env(os.environ))
    try:
        return [
            service.handle(
                {"job_id": JOB_ID, "stage": stage, "preview_url": f"{base_url}/{stage}/"},
                LocalContext(),  # type: ignore[arg-type]
            )
            for stage in STAGES
        ]
    finally:
        service.close()


def save_stored(aws: LocalAws, result: dict[str, Any], out: Path) -> None:
    """The stage's PNG and thumbnail, from the emulator's bucket to ``out/<stage>.png|webp``."""
    s3 = aws.client("s3")
    stem = result["image"]["key"].removesuffix(".png")
    for suffix in ("png", "webp"):
        body = s3.get_object(Bucket=aws.bucket, Key=f"{stem}.{suffix}")["Body"].read()
        (out / f"{result['stage']}.{suffix}").write_bytes(body)


def timeline_page(results: list[dict[str, Any]]) -> str:
    """A static page: per stage its screenshot (changed regions outlined) and its thumbnail."""
    sections = []
    for result in results:
        stage = html.escape(result["stage"])
        diff = result["diff"]
        outlines = "".join(
            f'<div class="region" style="left:{x * SCALE}px;top:{y * SCALE}px;'
            f'width:{w * SCALE}px;height:{h * SCALE}px"></div>'
            for x, y, w, h in (diff["regions"] if diff else [])
        )
        summary = (
            f"{diff['changed_fraction']:.1%} of pixels changed since {html.escape(diff['stage'])}"
            f", {len(diff['regions'])} region(s), phash distance {diff['phash_distance']}"
            if diff
            else f"no diff ({html.escape(str(result['diff_reason']))})"
        )
        sections.append(
            f'<section id="{stage}"><h2>{stage}</h2><p>{summary}</p>'
            f'<div class="row"><figure class="shot"><img src="{stage}.png" alt="{stage}">'
            f"{outlines}</figure>"
            f'<figure><img class="thumb" src="{stage}.webp" alt="{stage} thumbnail">'
            f"<figcaption>thumbnail</figcaption></figure></div></section>"
        )
    width, height = 1280 * SCALE, 800 * SCALE
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Build {JOB_ID}: stage timeline</title>
<style>
  body {{ margin: 24px; font-family: "Liberation Sans", sans-serif; color: #1d2433; }}
  .row {{ display: flex; gap: 24px; align-items: flex-start; }}
  figure {{ margin: 0; }}
  .shot {{ position: relative; width: {width}px; height: {height}px; }}
  .shot img {{ width: {width}px; height: {height}px; display: block; }}
  .region {{ position: absolute; box-sizing: border-box; outline: 3px solid {OUTLINE}; }}
  .thumb {{ width: 320px; height: 200px; display: block; }}
</style></head>
<body><h1>Build {JOB_ID}</h1>
{"".join(sections)}
</body></html>
"""


def run_demo(out: Path = OUT) -> int:
    out.mkdir(parents=True, exist_ok=True)
    with local_aws() as aws, serve_stages() as base_url:
        with contextlib.redirect_stdout(sys.stderr):  # EMF metrics are printed
            results = two_stage_build(aws, base_url)
        captured = all(result["status"] == "captured" for result in results)
        if captured:
            for result in results:
                save_stored(aws, result, out)
    for result in results:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    if not captured:
        print("\na stage was not captured: no timeline written", file=sys.stderr)
        return 1
    (out / "timeline.html").write_text(timeline_page(results))
    print(f"\nTimeline: {out / 'timeline.html'}", file=sys.stderr)
    return 0


def main() -> int:
    handler_log = logger.registered_handler
    if isinstance(handler_log, logging.StreamHandler):
        handler_log.setStream(sys.stderr)  # stdout carries the results
    return run_demo()


if __name__ == "__main__":
    raise SystemExit(main())
