"""Blank judgement: both pixel tiers at their edges, exact scores, the opt-in content policy."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from lambda_fn.blank import CONTENT_MIN_TEXT, BlankPolicy, DomEvidence, judge

WHITE = (255, 255, 255)
NO_CONTENT = DomEvidence(text_length=0, visible_elements=0, images_loaded=0, images_total=0)
CONTENT = DomEvidence(text_length=500, visible_elements=40, images_loaded=3, images_total=3)


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
    text_length=st.integers(0, CONTENT_MIN_TEXT - 1) | st.integers(CONTENT_MIN_TEXT, 2000),
    visible_elements=st.integers(0, 50),
    images_loaded=st.sampled_from([0, 0, 0, 1, 2]),
    images_total=st.integers(0, 3),
)


def shows_content(dom: DomEvidence) -> bool:
    return dom.text_length >= CONTENT_MIN_TEXT or dom.images_loaded > 0


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


@settings(max_examples=120, deadline=None)
@given(judged_cases(), dom_evidence)
def test_content_aware_policy_overrules_only_uniform_pixels_and_only_on_dom_content(
    case: tuple[bytes, int, float], dom: DomEvidence
) -> None:
    png, min_bytes, max_fraction = case
    pixels = judge(png, BlankPolicy(min_bytes, max_fraction))
    aware = judge(png, BlankPolicy(min_bytes, max_fraction, content_aware=True), dom)
    if pixels.failed_check == "uniform_pixels" and shows_content(dom):
        assert (aware.blank, aware.failed_check) == (False, None)
    else:
        assert (aware.blank, aware.failed_check) == (pixels.blank, pixels.failed_check)


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


def test_content_aware_policy_keeps_a_uniform_page_without_content_blank() -> None:
    png = mostly_white_100x100(9900)
    policy = BlankPolicy(min_bytes=0, content_aware=True)
    assert judge(png, policy, NO_CONTENT).failed_check == "uniform_pixels"
    assert judge(png, policy, CONTENT).failed_check is None


def test_content_aware_policy_never_overrules_file_too_small() -> None:
    png = encode(Image.new("RGB", (1280, 800), WHITE))
    policy = BlankPolicy(content_aware=True)
    assert judge(png, policy, CONTENT).failed_check == "file_too_small"


@pytest.mark.parametrize(
    ("text_length", "images_loaded", "expected"),
    [(39, 0, False), (40, 0, True), (0, 1, True), (0, 0, False)],
)
def test_dom_shows_content_from_40_characters_of_text_or_one_loaded_image(
    text_length: int, images_loaded: int, expected: bool
) -> None:
    dom = DomEvidence(
        text_length=text_length, visible_elements=5, images_loaded=images_loaded, images_total=2
    )
    assert dom.shows_content() is expected
