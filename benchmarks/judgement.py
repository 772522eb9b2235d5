"""How long blank judgement takes on 1280x800 screenshots (target: under 20 ms).

Run: .venv/bin/python benchmarks/judgement.py [--runs N]

Three generated screenshots stand in for what Chromium produces: a content page (shapes and
text), a photo-like image (gradients and noise, the costliest PNG to decode), and a near-white
page. Each is judged ``--runs`` times with the default policy and with the content-aware policy
(given DOM evidence of an app, so a uniform capture gets its pixel structure weighed), the two
side by side; median and p95 are printed, and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from lambda_fn.pictures.blank import BlankPolicy, DomEvidence, judge

WIDTH, HEIGHT = 1280, 800
TARGET_MS = 20.0
LOREM = (
    "Generated apps render dashboards, forms and landing pages; the screenshot shows the "
    "first viewport of the preview as a person would see it after the page settles."
)


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def content_page() -> Image.Image:
    """A web app's first viewport: header, sidebar, cards of text, a chart, buttons."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (248, 249, 251))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 64), fill=(31, 41, 55))
    draw.text((24, 18), "Acme Analytics", font=font(26), fill=(255, 255, 255))
    for n, label in enumerate(["Overview", "Reports", "Customers", "Settings"]):
        draw.text((760 + n * 120, 24), label, font=font(16), fill=(209, 213, 219))
    draw.rectangle((0, 64, 220, HEIGHT), fill=(255, 255, 255), outline=(229, 231, 235))
    for n in range(10):
        draw.text((24, 90 + n * 40), f"Menu item {n + 1}", font=font(16), fill=(55, 65, 81))
    for column in range(3):
        left = 250 + column * 340
        draw.rounded_rectangle((left, 90, left + 320, 250), 12, fill=(255, 255, 255))
        draw.text((left + 20, 110), f"Metric {column + 1}", font=font(18), fill=(107, 114, 128))
        draw.text((left + 20, 140), f"{(column + 3) * 1234:,}", font=font(40), fill=(17, 24, 39))
    draw.rounded_rectangle((250, 280, 1240, 560), 12, fill=(255, 255, 255))
    points = [(280 + x * 30, 520 - int(120 * (1 + np.sin(x / 3)))) for x in range(32)]
    draw.line(points, fill=(59, 130, 246), width=3)
    for n in range(5):
        draw.text((250, 590 + n * 28), LOREM[n * 20 :] + LOREM, font=font(16), fill=(75, 85, 99))
    for n in range(3):
        draw.rounded_rectangle((250 + n * 170, 740, 400 + n * 170, 780), 8, fill=(37, 99, 235))
        draw.text((275 + n * 170, 750), f"Action {n + 1}", font=font(16), fill=(255, 255, 255))
    return image


def photo_like() -> Image.Image:
    """A full-bleed photograph: smooth colour fields plus sensor noise."""
    rng = np.random.default_rng(1)
    coarse = Image.fromarray(rng.integers(0, 256, (10, 16, 3), dtype=np.uint8), "RGB")
    smooth = np.asarray(coarse.resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC), np.int16)
    noisy = smooth + rng.normal(0, 12, smooth.shape).astype(np.int16)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def near_white_page() -> Image.Image:
    """A page that has not rendered yet: white, with a small spinner and one line of text."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse((620, 370, 660, 410), outline=(200, 200, 200), width=4)
    draw.text((590, 430), "Loading...", font=font(16), fill=(160, 160, 160))
    return image.filter(ImageFilter.SMOOTH)


def encode(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


POLICIES = {"default": BlankPolicy(), "content-aware": BlankPolicy(content_aware=True)}
# What dom.py reads from a sparse app: a few controls, painted boxes and a line of text.
APP_DOM = DomEvidence(
    text_length=24,
    visible_elements=12,
    images_loaded=0,
    images_total=0,
    controls=2,
    painted_boxes=4,
)


def measure(png: bytes, runs: int) -> dict[str, list[float]]:
    """Both policies' timings, interleaved run by run so that load on the machine hits both."""
    timings: dict[str, list[float]] = {name: [] for name in POLICIES}
    for policy in POLICIES.values():
        judge(png, policy, APP_DOM)  # warm-up: first-call imports and allocations
    for _ in range(runs):
        for name, policy in POLICIES.items():
            started = time.perf_counter()
            judge(png, policy, APP_DOM)
            timings[name].append((time.perf_counter() - started) * 1000)
    return timings


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="judgements per image (>= 50)")
    runs = max(50, parser.parse_args().runs)
    pages: dict[str, Callable[[], Image.Image]] = {
        "content page": content_page,
        "photo-like": photo_like,
        "near-white page": near_white_page,
    }
    worst_p95 = 0.0
    print(f"judge() on {WIDTH}x{HEIGHT} PNGs, {runs} runs each, both policies interleaved")
    for name, make in pages.items():
        png = encode(make())
        timings = measure(png, runs)
        medians = {policy: statistics.median(values) for policy, values in timings.items()}
        for policy, values in timings.items():
            judgement = judge(png, POLICIES[policy], APP_DOM)
            worst_p95 = max(worst_p95, p95(values))
            verdict = f"blank:{judgement.failed_check}" if judgement.blank else "not blank"
            print(
                f"{name:16} {policy:13} {len(png):>9,} B  uniform={judgement.uniform_fraction:<6}"
                f" {verdict:22} median={medians[policy]:6.2f} ms  p95={p95(values):6.2f} ms"
            )
        ratio = medians["content-aware"] / medians["default"]
        print(f"{name:16} content-aware / default median: {ratio:.2f}")
    met = "met" if worst_p95 < TARGET_MS else "NOT met"
    print(f"{TARGET_MS:.0f} ms target {met}: worst p95 {worst_p95:.2f} ms")


if __name__ == "__main__":
    main()
