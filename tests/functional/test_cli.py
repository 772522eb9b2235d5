"""The command line, run as a person runs it: a new process, real Chromium, local pages."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from PIL import Image

from tests.functional.conftest import EVENTS
from tests.pages import RICH_PAGE, WHITE_PAGE, PageServer

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "lambda_fn", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "ALLOW_PRIVATE_URLS": "true", **(env or {})},
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, result


def test_shoot_prints_the_judged_result_with_phase_timings(
    pages: PageServer, tmp_path: Path
) -> None:
    png = tmp_path / "out.png"
    code, result = run_cli("shoot", pages.page("/", RICH_PAGE), "-o", str(png))
    assert (code, result["status"]) == (0, "captured")
    expected = {"driver", "launch", "navigation", "readiness", "screenshot", "judgement"}
    assert expected <= set(result["timings_ms"])
    assert Image.open(io.BytesIO(png.read_bytes())).size == (1280, 800)


def test_shoot_writes_the_blank_png_too_so_a_person_can_see_why(
    pages: PageServer, tmp_path: Path
) -> None:
    png = tmp_path / "blank.png"
    code, result = run_cli("shoot", pages.page("/", WHITE_PAGE), "-o", str(png))
    assert (code, result["status"], result["judgement"]["failed_check"]) == (
        1,
        "discarded",
        "file_too_small",
    )
    assert png.stat().st_size == result["judgement"]["size_bytes"]


def test_invoke_with_emulated_aws_stores_and_saves_the_png(
    pages: PageServer, tmp_path: Path
) -> None:
    event = json.loads((EVENTS / "eventbridge.json").read_text())
    event["detail"]["preview_url"] = pages.page("/", RICH_PAGE)
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event))
    code, result = run_cli("invoke", str(event_path), "--emulate-aws")
    assert (code, result["status"]) == (0, "captured")
    saved = tmp_path / "event.png"
    assert result["local_png"] == str(saved)
    assert Image.open(saved).size == (1280, 800)
    assert result["snapshot_url"].endswith(result["image"]["key"])


def test_invoke_of_an_invalid_event_prints_the_rejection(tmp_path: Path) -> None:
    code, result = run_cli("invoke", str(EVENTS / "invalid" / "url_userinfo.json"), "--emulate-aws")
    assert (code, result["status"], result["reason"]) == (
        1,
        "rejected",
        "url_blocked:userinfo",
    )


def test_shoot_of_a_url_that_is_not_http_prints_the_rejection_without_a_traceback() -> None:
    code, result = run_cli("shoot", "file:///etc/passwd")
    assert (code, result["status"], result["reason"]) == (
        2,
        "rejected",
        "url_blocked:scheme",
    )


def test_shoot_without_a_browser_prints_the_configuration_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-chromium")
    code, result = run_cli("shoot", "http://127.0.0.1:9/", env={"CHROMIUM_EXECUTABLE": missing})
    assert (code, result["status"], result["reason"]) == (2, "failed", "invalid_config")
    assert missing in result["error"]


def test_invoke_of_an_unreadable_event_file_prints_the_rejection(tmp_path: Path) -> None:
    event_path = tmp_path / "event.json"
    event_path.write_text("{not json")
    code, result = run_cli("invoke", str(event_path))
    assert (code, result["status"], result["reason"]) == (2, "rejected", "invalid_request:event")
