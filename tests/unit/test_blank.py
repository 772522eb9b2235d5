"""Blank judgement: both pixel tiers at their edges, exact scores, the opt-in content policy."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, PngImagePlugin

from lambda_fn.pictures.blank import MIN_STRUCTURE_TILES, BlankPolicy, DomEvidence, judge

WHITE = (255, 255, 255)


def encode(image: Image.Image, pnginfo: PngImagePlugin.PngInfo | None = None) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=pnginfo)
    return buffer.getvalue()


def noise(width: int, height: int, seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def noisy_png_of_exactly(size: int) -> bytes:
    """A non-uniform PNG padded with a tEXt chunk to exactly ``size`` bytes."""
    image = noise(24, 24, seed=7)

    def with_padding(length: int) -> bytes:
        info = PngImagePlugin.PngInfo()
        info.add_text("padding", "x" * length)
        return encode(image, info)

    unpadded = len(with_padding(0))
    assert unpadded < size, "the noise image alone must be under the target size"
    return with_padding(size - unpadded)


def mostly_white_100x100(white_pixels: int) -> bytes:
    """A 100x100 image with exactly ``white_pixels`` white pixels; the rest are other colours."""
    rng = np.random.default_rng(11)
    pixels = rng.integers(0, 200, size=(10_000, 3), dtype=np.uint8)  # never white
    where = rng.permutation(10_000)[:white_pixels]
    pixels[where] = WHITE
    return encode(Image.fromarray(pixels.reshape(100, 100, 3), "RGB"))


def exact_mode_fraction(image: Image.Image) -> float:
    count = image.width * image.height
    colours = image.getcolors(maxcolors=count)
    assert colours is not None
    return max(n for n, _ in colours) / count


# Tier 1: file size.


def test_png_of_5119_bytes_is_blank_as_file_too_small() -> None:
    png = noisy_png_of_exactly(5119)
    assert len(png) == 5119
    judgement = judge(png, BlankPolicy())
    assert judgement.uniform_fraction < 0.95
    assert (judgement.blank, judgement.failed_check) == (True, "file_too_small")


def test_png_of_5120_bytes_is_not_blank() -> None:
    png = noisy_png_of_exactly(5120)
    assert len(png) == 5120
    judgement = judge(png, BlankPolicy())
    assert (judgement.blank, judgement.failed_check) == (False, None)


# Tier 2: uniform pixels.


def test_image_with_95_percent_of_one_colour_is_blank_as_uniform_pixels() -> None:
    judgement = judge(mostly_white_100x100(9500), BlankPolicy(min_bytes=0))
    assert judgement.uniform_fraction == 0.95
    assert (judgement.blank, judgement.failed_check) == (True, "uniform_pixels")


def test_image_with_94_99_percent_of_one_colour_is_not_blank() -> None:
    judgement = judge(mostly_white_100x100(9499), BlankPolicy(min_bytes=0))
    assert judgement.uniform_fraction == 0.9499
    assert (judgement.blank, judgement.failed_check) == (False, None)


def test_file_size_is_checked_before_uniformity() -> None:
    png = encode(Image.new("RGB", (1280, 800), WHITE))
    judgement = judge(png, BlankPolicy())
    assert judgement.failed_check == "file_too_small"


def test_every_score_is_recorded_even_when_tier_1_decides() -> None:
    png = encode(Image.new("RGB", (1280, 800), WHITE))
    judgement = judge(png, BlankPolicy())
    assert (judgement.size_bytes, judgement.width, judgement.height) == (len(png), 1280, 800)
    assert (judgement.uniform_fraction, judgement.max_stddev) == (1.0, 0.0)


def test_thresholds_come_from_the_policy() -> None:
    png = mostly_white_100x100(9000)
    assert judge(png, BlankPolicy(min_bytes=len(png) + 1)).failed_check == "file_too_small"
    assert judge(png, BlankPolicy(min_bytes=0, max_uniform_fraction=0.9)).blank
    assert not judge(png, BlankPolicy(min_bytes=0, max_uniform_fraction=0.91)).blank


def test_near_white_page_with_a_sparse_dot_lattice_is_blank_as_uniform_pixels() -> None:
    """99% white at 1280x800; the dots (1%) sit on every 97th pixel in three colours."""
    pixels = np.full((800 * 1280, 3), 255, dtype=np.uint8)
    dots = np.arange(0, pixels.shape[0], 97)
    pixels[dots] = np.array([(200, 0, 0), (0, 200, 0), (0, 0, 200)], dtype=np.uint8)[
        np.arange(dots.size) % 3
    ]
    png = encode(Image.fromarray(pixels.reshape(800, 1280, 3), "RGB"))
    assert len(png) >= 5120
    judgement = judge(png, BlankPolicy())
    assert judgement.uniform_fraction == round(1 - dots.size / pixels.shape[0], 4)
    assert judgement.failed_check == "uniform_pixels"


# Generated images: the scores are exact.


@st.composite
def dominant_colour_images(draw: st.DrawFn) -> Image.Image:
    """Images whose most common colour covers more than half of the pixels, anywhere."""
    width = draw(st.integers(1, 64))
    height = draw(st.integers(1, 64))
    count = width * height
    colour = st.tuples(*[st.integers(0, 255)] * 3)
    background = draw(colour)
    others = draw(st.lists(colour.filter(lambda c: c != background), min_size=1, max_size=4))
    positions = draw(st.lists(st.integers(0, count - 1), max_size=(count - 1) // 2, unique=True))
    pixels = np.array([background] * count, dtype=np.uint8)
    for n, position in enumerate(positions):
        pixels[position] = others[n % len(others)]
    return Image.fromarray(pixels.reshape(height, width, 3), "RGB")


@settings(max_examples=150, deadline=None)
@given(dominant_colour_images())
def test_reported_uniform_fraction_is_the_exact_share_of_the_most_common_colour(
    image: Image.Image,
) -> None:
    judgement = judge(encode(image), BlankPolicy())
    assert judgement.uniform_fraction == round(exact_mode_fraction(image), 4)


@settings(max_examples=100, deadline=None)
@given(dominant_colour_images())
def test_reported_max_stddev_is_the_largest_rgb_channel_deviation(image: Image.Image) -> None:
    judgement = judge(encode(image), BlankPolicy())
    channels = np.asarray(image, dtype=np.float64).reshape(-1, 3)
    assert judgement.max_stddev == pytest.approx(channels.std(axis=0).max(), abs=0.0051)
    assert (judgement.width, judgement.height) == image.size


# The content-aware policy.


dom_evidence = st.builds(
    DomEvidence,
    text_length=st.sampled_from([0, 0, 5, 500]),
    visible_elements=st.integers(0, 50),
    images_loaded=st.sampled_from([0, 0, 0, 1, 2]),
    images_total=st.integers(0, 3),
    controls=st.sampled_from([0, 0, 1, 3]),
    painted_boxes=st.sampled_from([0, 0, 1, 9]),
    graphics=st.sampled_from([0, 0, 1]),
    endless_animations=st.sampled_from([0, 0, 0, 1]),
    loading_indicator=st.sampled_from([None, None, None, "class:spinner"]),
    server_error=st.sampled_from([None, None, None, "Cannot GET /"]),
    empty_root=st.sampled_from([False, False, False, True]),
)


def white_with_marks(*boxes: tuple[int, int, int, int], outline: bool = False) -> bytes:
    """A white 1280x800 PNG with dark rectangles (or their 3-pixel outlines) at ``boxes``."""
    image = Image.new("RGB", (1280, 800), WHITE)
    draw = ImageDraw.Draw(image)
    for box in boxes:
        if outline:
            draw.rectangle(box, outline=(40, 40, 40), width=3)
        else:
            draw.rectangle(box, fill=(40, 40, 40))
    return encode(image)


@st.composite
def judged_cases(draw: st.DrawFn) -> tuple[bytes, int, float]:
    """A small PNG and tier thresholds around its own size and uniformity."""
    background = draw(st.sampled_from([WHITE, (0, 0, 0), (30, 120, 200)]))
    image = noise(16, 16, seed=draw(st.integers(0, 2**16)))
    mask = Image.new("L", image.size, 0)
    mask.paste(255, (0, 0, 16, draw(st.integers(0, 16))))
    image.paste(Image.new("RGB", image.size, background), mask=mask)
    png = encode(image)
    min_bytes = draw(st.sampled_from([0, 0, len(png), len(png) + 1]))
    max_fraction = draw(st.sampled_from([0.05, 0.25, 0.5]) | st.floats(0.01, 1.0))
    return png, min_bytes, max_fraction


@settings(max_examples=150, deadline=None)
@given(judged_cases(), dom_evidence)
def test_content_aware_policy_keeps_a_blank_capture_only_on_its_recorded_evidence(
    case: tuple[bytes, int, float], dom: DomEvidence
) -> None:
    png, min_bytes, max_fraction = case
    pixels = judge(png, BlankPolicy(min_bytes, max_fraction))
    aware = judge(png, BlankPolicy(min_bytes, max_fraction, content_aware=True), dom)
    if not pixels.blank:
        assert aware == pixels
        return
    assert aware.evidence is not None
    assert aware.evidence.negative == dom.negative()
    assert aware.evidence.positive == dom.positive()
    kept = bool(dom.positive()) and not dom.negative() and aware.evidence.has_structure()
    assert aware.blank is not kept
    assert aware.failed_check == (None if kept else pixels.failed_check)


@settings(max_examples=100, deadline=None)
@given(judged_cases(), dom_evidence)
def test_content_aware_policy_without_dom_evidence_is_the_pixel_policy(
    case: tuple[bytes, int, float], dom: DomEvidence
) -> None:
    png, min_bytes, max_fraction = case
    pixels = judge(png, BlankPolicy(min_bytes, max_fraction))
    assert judge(png, BlankPolicy(min_bytes, max_fraction, content_aware=True), None) == pixels


@settings(max_examples=100, deadline=None)
@given(judged_cases(), dom_evidence)
def test_default_policy_ignores_dom_evidence(
    case: tuple[bytes, int, float], dom: DomEvidence
) -> None:
    png, min_bytes, max_fraction = case
    policy = BlankPolicy(min_bytes, max_fraction)
    assert judge(png, policy, dom) == judge(png, policy, None)
    assert judge(png, policy, dom).evidence is None


APP = DomEvidence(
    text_length=12, visible_elements=6, images_loaded=0, images_total=0, controls=2, painted_boxes=3
)
AWARE = BlankPolicy(content_aware=True)


def test_sparse_ui_with_two_separate_marks_is_kept_and_its_evidence_recorded() -> None:
    png = white_with_marks((100, 100, 300, 140), (600, 500, 660, 540))
    assert judge(png, BlankPolicy()).blank
    judgement = judge(png, AWARE, APP)
    assert (judgement.blank, judgement.failed_check) == (False, None)
    assert judgement.evidence is not None
    assert judgement.evidence.structure_clusters == 2
    assert judgement.evidence.positive == ("controls", "painted_boxes", "text")


def test_a_lone_small_mark_is_not_structure_even_with_dom_content() -> None:
    png = white_with_marks((620, 380, 660, 420), outline=True)  # a spinner-sized ring
    judgement = judge(png, AWARE, APP)
    assert judgement.blank
    assert judgement.evidence is not None
    assert judgement.evidence.structure_clusters == 1
    assert judgement.evidence.structure_tiles < MIN_STRUCTURE_TILES


def test_a_hairline_across_the_page_occupies_no_tile() -> None:
    image = Image.new("RGB", (1280, 800), WHITE)
    ImageDraw.Draw(image).line((0, 56, 1279, 56), fill=(200, 200, 200))
    judgement = judge(encode(image), AWARE, APP)
    assert judgement.blank
    assert judgement.evidence is not None
    assert judgement.evidence.structure_tiles == 0


def test_one_large_cluster_is_structure() -> None:
    png = white_with_marks((100, 100, 200, 160))  # 7 x 4 tiles at least, all touching
    judgement = judge(png, AWARE, APP)
    assert judgement.evidence is not None
    assert judgement.evidence.structure_clusters == 1
    assert judgement.evidence.structure_tiles >= MIN_STRUCTURE_TILES
    assert not judgement.blank


@pytest.mark.parametrize(
    "negative",
    [
        {"loading_indicator": "class:spinner"},
        {"server_error": "502 Bad Gateway"},
        {"empty_root": True},
    ],
)
def test_negative_evidence_overrules_an_app_like_page(negative: dict[str, object]) -> None:
    png = white_with_marks((100, 100, 300, 140), (600, 500, 660, 540))
    judgement = judge(png, AWARE, replace(APP, **negative))  # type: ignore[arg-type]
    assert judgement.blank
    assert judgement.failed_check == judge(png, BlankPolicy()).failed_check
    assert judgement.evidence is not None
    assert judgement.evidence.negative


def test_an_endless_animation_is_negative_only_without_controls_or_text() -> None:
    alone = DomEvidence(0, 1, 0, 0, painted_boxes=1, endless_animations=1)
    assert alone.negative() == ("lone_animation",)
    assert replace(alone, controls=1).negative() == ()
    assert replace(alone, text_length=4).negative() == ()


def test_content_aware_policy_may_overrule_file_too_small_on_evidence() -> None:
    png = white_with_marks((100, 100, 300, 104), (600, 500, 602, 540), outline=True)
    assert len(png) < 5120
    assert judge(png, AWARE, APP).failed_check is None
    assert judge(png, AWARE, replace(APP, controls=0, painted_boxes=0, text_length=0)).blank


def test_white_page_stays_blank_under_the_content_aware_policy() -> None:
    png = encode(Image.new("RGB", (1280, 800), WHITE))
    empty = DomEvidence(text_length=0, visible_elements=0, images_loaded=0, images_total=0)
    judgement = judge(png, AWARE, empty)
    assert (judgement.blank, judgement.failed_check) == (True, "file_too_small")
