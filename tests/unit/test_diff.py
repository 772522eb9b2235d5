"""The diff against the previous stage: known changed areas, tolerance, regions, bad input."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

from lambda_fn.pictures.diff import (
    FRACTION_ERROR,
    DiffError,
    Picture,
    changes,
    compare,
    merge_regions,
    regions_of,
)

W, H = 1280, 800


def png(image: Image.Image) -> bytes:
    out = BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def picture(rgba: npt.NDArray[np.uint8]) -> Picture:
    return Picture.of(png(Image.fromarray(rgba)), rgba)


def page(text_dx: float = 0.0, boxes: list[tuple[int, int, int, int]] | None = None) -> Image.Image:
    """A page-like image: header bar, anti-aliased text (optionally shifted), filled boxes."""
    image = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, W, 60), fill=(30, 60, 120))
    font = ImageFont.load_default(size=22)
    for line in range(12):
        draw.text(
            (40 + text_dx, 100 + line * 40),
            f"Line {line}: the build is moving",
            font=font,
            fill="black",
        )
    for x, y, w, h in boxes or []:
        draw.rectangle((x, y, x + w - 1, y + h - 1), fill=(220, 40, 40))
    return image


def covers(regions: list[tuple[int, int, int, int]], box: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    return any(
        rx <= x and ry <= y and rx + rw >= x + w and ry + rh >= y + h for rx, ry, rw, rh in regions
    )


def test_identical_bytes_are_unchanged() -> None:
    data = png(page())
    result = compare(data, data)
    assert (result.changed_fraction, result.regions, result.phash_distance) == (0.0, [], 0)


def test_re_encoded_identical_pixels_are_unchanged() -> None:
    image = page()
    other = BytesIO()
    image.save(other, format="PNG", compress_level=1)
    result = compare(png(image), other.getvalue())
    assert result.changed_fraction == 0.0
    assert result.regions == []


@pytest.mark.parametrize(
    "boxes",
    [
        [(900, 300, 200, 150)],
        [(700, 100, 400, 400), (20, 650, 300, 100)],
        [(1000 + 20 * i, 80 + 70 * i, 10, 10) for i in range(10)] + [(600, 600, 500, 150)],
    ],
)
def test_known_changed_areas(boxes: list[tuple[int, int, int, int]]) -> None:
    result = compare(png(page()), png(page(boxes=boxes)))
    truth = sum(w * h for _, _, w, h in boxes) / (W * H)
    assert abs(result.changed_fraction - truth) <= 0.01
    assert 1 <= len(result.regions) <= 10
    assert all(covers(result.regions, box) for box in boxes)
    assert result.phash_distance >= 0


def test_sub_pixel_text_shift_is_not_change() -> None:
    result = compare(png(page()), png(page(text_dx=0.5)))
    assert result.changed_fraction <= 0.001


def test_one_pixel_text_shift_is_not_change() -> None:
    result = compare(png(page()), png(page(text_dx=1)))
    assert result.changed_fraction <= 0.001


def test_recoloured_area_is_change() -> None:
    before = page(boxes=[(100, 600, 300, 100)])
    after = before.copy()
    ImageDraw.Draw(after).rectangle((100, 600, 399, 699), fill=(40, 160, 40))
    result = compare(png(before), png(after))
    assert abs(result.changed_fraction - 300 * 100 / (W * H)) <= 0.01
    assert covers(result.regions, (100, 600, 300, 100))


def test_different_size_is_a_reason() -> None:
    with pytest.raises(DiffError) as raised:
        compare(png(page()), png(Image.new("RGB", (W, H + 10), "white")))
    assert raised.value.reason == "size_mismatch"


def test_corrupt_previous_is_a_reason() -> None:
    data = png(page())
    with pytest.raises(DiffError) as raised:
        compare(data[:200], data)
    assert raised.value.reason == "corrupt_previous"


def test_merge_keeps_at_most_ten_and_covers_all() -> None:
    rng = np.random.default_rng(5)
    boxes: list[tuple[int, int, int, int]] = [
        (int(x), int(y), 8, 8) for x, y in rng.integers(0, 1000, size=(40, 2))
    ]
    merged = merge_regions(boxes)
    assert len(merged) <= 10
    assert all(covers(merged, box) for box in boxes)


def test_phash_tells_a_different_page() -> None:
    other: npt.NDArray[np.uint8] = np.zeros((H, W, 3), dtype=np.uint8)
    other[:, : W // 2] = 255
    result = compare(png(page()), png(Image.fromarray(other)))
    assert result.phash_distance > 10


def exact_mask(old: npt.NDArray[np.uint8], new: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """The definition, pixel by pixel: changed when the colour is farther than the threshold from
    every pixel within one pixel in the other image, in either direction."""

    def distance(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
        ra, ga, ba = (float(v) for v in a[:3])
        rb, gb, bb = (float(v) for v in b[:3])
        dr, dg, db = ra - rb, ga - gb, ba - bb
        y = dr * 0.29889531 + dg * 0.58662247 + db * 0.11448223
        i = dr * 0.59597799 - dg * 0.27417610 - db * 0.32180189
        q = dr * 0.21147017 - dg * 0.52261711 + db * 0.31114694
        return 0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q

    height, width = old.shape[:2]
    limit = 35215 * 0.1 * 0.1

    def unmatched(
        colour: npt.NDArray[np.uint8], other: npt.NDArray[np.uint8], y: int, x: int
    ) -> bool:
        return all(
            distance(colour, other[min(max(y + dy, 0), height - 1), min(max(x + dx, 0), width - 1)])
            > limit
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
        )

    out = np.zeros((height, width), dtype=np.bool_)
    for y in range(height):
        for x in range(width):
            out[y, x] = unmatched(new[y, x], old, y, x) or unmatched(old[y, x], new, y, x)
    return out


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    levels=st.sampled_from([2, 4, 16, 256]),
    tolerance=st.sampled_from([0.0, FRACTION_ERROR]),
)
def test_mask_matches_the_definition_pixel_by_pixel(
    seed: int, levels: int, tolerance: float
) -> None:
    rng = np.random.default_rng(seed)
    step = 256 // levels
    old = (rng.integers(0, levels, size=(14, 18, 4)) * step).astype(np.uint8)
    new = old.copy()
    changed = rng.random((14, 18)) < 0.3
    new[changed] = (rng.integers(0, levels, size=(int(changed.sum()), 4)) * step).astype(np.uint8)
    new[..., 3] = old[..., 3] = 255
    expected = exact_mask(old, new)
    found = changes(picture(old), picture(new), tolerance)
    assert found.estimated == 0  # too few pixels for a sample to be cheaper
    assert np.array_equal(found.cover, expected)
    assert found.count == np.count_nonzero(expected)


def grain(rng: np.random.Generator, height: int, width: int) -> npt.NDArray[np.uint8]:
    """Photo-like content: a smooth gradient with per-pixel grain, opaque."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 200 / width, y * 200 / height, (x + y) * 100 / (width + height)], axis=2)
    noisy = base + rng.normal(0, 20, size=(height, width, 3)) + 20
    out = np.full((height, width, 4), 255, dtype=np.uint8)
    out[..., :3] = np.clip(noisy, 0, 255).astype(np.uint8)
    return out


def shifted(old: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """``old`` with its lower part moved down and a block painted at the top (a changed stage)."""
    height, width = old.shape[:2]
    top = int(rng.integers(4, height // 3))
    new = old.copy()
    new[top:] = np.concatenate([old[top : top + 2], old[top:-2]])
    new[:top, : width // 2, :3] = rng.integers(0, 256, size=3).astype(np.uint8)
    return new


def inside(regions: list[tuple[int, int, int, int]], mask: npt.NDArray[np.bool_]) -> bool:
    """Whether every pixel of ``mask`` lies in one of ``regions``."""
    covered = np.zeros_like(mask)
    for x, y, w, h in regions:
        covered[y : y + h, x : x + w] = True
    return bool(np.all(covered[mask]))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_sampled_fraction_is_within_the_bound_and_regions_cover_every_change(seed: int) -> None:
    # A loose bound makes the sample small enough to matter on an image the definition can check.
    rng = np.random.default_rng(seed)
    old = grain(rng, 48, 64)
    new = shifted(old, rng)
    expected = exact_mask(old, new)
    found = changes(picture(old), picture(new), 0.2)
    assert found.estimated > 0
    assert abs(found.count - np.count_nonzero(expected)) / expected.size <= 0.2
    assert np.all(found.cover[expected])
    assert inside(merge_regions(regions_of(found.cover)), expected)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sampled_fraction_on_a_full_page_of_shifted_grain(seed: int) -> None:
    rng = np.random.default_rng(seed)
    old = grain(rng, H, W)
    new = shifted(old, rng)
    exact = changes(picture(old), picture(new), 0.0)
    sampled = compare(png(Image.fromarray(old)), picture(new))  # default bound
    found = changes(picture(old), picture(new))
    assert found.estimated > 0.1 * W * H  # the sample stands for many pixels
    truth = exact.count / exact.cover.size
    assert abs(sampled.changed_fraction - truth) <= 0.01
    assert np.all(found.cover[exact.cover])
    assert inside(sampled.regions, exact.cover)
