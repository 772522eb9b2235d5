"""``make demo``: the two-stage build runs, and its timeline page, rendered by the headless shell,
shows both screenshots and thumbnails with the changed regions outlined."""

from __future__ import annotations

import importlib.util
import io
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image
from playwright.sync_api import sync_playwright

from lambda_fn.capture.browser import find_executable
from tests.pixels import colour_share

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"
HEADER_BLUE = (31, 111, 235)  # the sample app's header starts with #1f6feb


def load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo", DEMO)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def printed_results(text: str) -> list[dict[str, Any]]:
    decoder, results, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        result, end = decoder.raw_decode(text, at)
        results.append(result)
        at = end + (len(text[end:]) - len(text[end:].lstrip()))
    return results


def render(page: Path) -> tuple[NDArray[np.uint8], dict[str, dict[str, float]]]:
    """The page as the headless shell draws it, and where its figures are."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_executable(None))
        try:
            tab = browser.new_page(viewport={"width": 1100, "height": 1100})
            tab.goto(page.as_uri(), wait_until="load")
            boxes = {
                selector: tab.locator(selector).bounding_box() or {}
                for selector in ("#checks .shot", "#ready .shot", "#checks .thumb", "#ready .thumb")
            }
            png = tab.screenshot(full_page=True)
        finally:
            browser.close()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), boxes


def crop(pixels: NDArray[np.uint8], box: dict[str, float]) -> NDArray[np.uint8]:
    x, y, w, h = (round(box[k]) for k in ("x", "y", "width", "height"))
    return pixels[y : y + h, x : x + w]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, Path, str]:
    out = tmp_path_factory.mktemp("demo-out")
    module = load_demo()
    stdout = io.StringIO()
    with mock.patch.dict(os.environ), mock.patch("sys.stdout", stdout):
        assert module.run_demo(out) == 0
    return module, out, stdout.getvalue()


def test_demo_prints_both_stages_the_second_diffed_against_the_first(
    demo: tuple[ModuleType, Path, str],
) -> None:
    _, out, printed = demo
    checks, ready = printed_results(printed)
    assert (checks["stage"], checks["status"], checks["diff"]) == ("checks", "captured", None)
    assert ready["stage"] == "ready"
    assert ready["diff"]["against"] == checks["image"]["key"]
    assert 0 < ready["diff"]["changed_fraction"] < 0.2
    assert 1 <= len(ready["diff"]["regions"]) <= 10
    for name in ("checks.png", "checks.webp", "ready.png", "ready.webp", "timeline.html"):
        assert (out / name).stat().st_size > 0


def test_timeline_page_shows_screenshots_thumbnails_and_outlined_regions(
    demo: tuple[ModuleType, Path, str],
) -> None:
    module, out, printed = demo
    ready = printed_results(printed)[1]
    pixels, boxes = render(out / "timeline.html")
    outline = tuple(int(module.OUTLINE[i : i + 2], 16) for i in (1, 3, 5))
    for selector in boxes:  # every image drawn: the app's blue header, left of its title
        assert colour_share(crop(pixels, boxes[selector])[1:6, 1:10], HEADER_BLUE, 30) > 0.9
    assert colour_share(crop(pixels, boxes["#checks .shot"]), outline, 40) == 0.0
    shot = boxes["#ready .shot"]
    for x, y, w, h in ready["diff"]["regions"]:
        left = round(shot["x"] + x * module.SCALE) - 2  # the 3 px outline is drawn outside
        top, bottom = round(shot["y"] + y * module.SCALE), round(shot["y"] + (y + h) * module.SCALE)
        edge = pixels[top:bottom, left : left + 1]
        assert colour_share(edge, outline, 40) > 0.8, (x, y, w, h)
