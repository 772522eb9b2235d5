"""Blank judgement of a PNG: pure, no I/O (DESIGN.md, locked requirements).

Tier 1: a PNG smaller than ``min_bytes`` is blank. Tier 2: a PNG whose most common colour covers
``max_uniform_fraction`` or more of its pixels is blank. The ``content-aware`` policy (opt-in) lets
DOM evidence of real content overrule tier 2 only, for sparse but real pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyspng
from PIL import Image, ImageStat

# Candidate colours for "most common" are the top colours of every SAMPLE_STRIDE-th pixel (a prime,
# so page stripes cannot alias with it), each counted exactly over every pixel. When none of them
# covers more than half of the image, the one colour that still could (the majority colour, if any)
# is found and counted too: every verdict at a threshold above 0.5 is exact.
SAMPLE_STRIDE = 97
CANDIDATES = 3
# Visible text or loaded images that count as real content under the content-aware policy.
CONTENT_MIN_TEXT = 40

BlankCheck = Literal["file_too_small", "uniform_pixels"]


@dataclass(frozen=True, slots=True)
class BlankPolicy:
    min_bytes: int = 5120
    max_uniform_fraction: float = 0.95
    content_aware: bool = False


@dataclass(frozen=True, slots=True)
class DomEvidence:
    """What the page's DOM showed at capture time, recorded to tune the thresholds."""

    text_length: int
    visible_elements: int
    images_loaded: int
    images_total: int

    def shows_content(self) -> bool:
        return self.text_length >= CONTENT_MIN_TEXT or self.images_loaded > 0


@dataclass(frozen=True, slots=True)
class Judgement:
    size_bytes: int
    uniform_fraction: float
    max_stddev: float
    blank: bool
    failed_check: BlankCheck | None
    width: int
    height: int


def judge(png: bytes, policy: BlankPolicy, dom: DomEvidence | None = None) -> Judgement:
    """Judge ``png``; every score is computed even when tier 1 already decides, as evidence."""
    rgba = decode_rgba(png)
    height, width = rgba.shape[:2]
    histogram = Image.frombuffer("RGBA", (width, height), rgba, "raw", "RGBA", 0, 1).histogram()
    fraction = uniform_fraction(rgba, histogram)
    stddev = max(ImageStat.Stat(histogram).stddev[:3])
    failed = _failed_check(len(png), fraction, policy, dom)
    return Judgement(
        size_bytes=len(png),
        uniform_fraction=round(fraction, 4),
        max_stddev=round(stddev, 2),
        blank=failed is not None,
        failed_check=failed,
        width=width,
        height=height,
    )


def decode_rgba(png: bytes) -> npt.NDArray[np.uint8]:
    """Any PNG as a height x width x 4 array of 8-bit RGBA (libspng: about twice Pillow's speed)."""
    rgba: npt.NDArray[np.uint8] = pyspng.load(png, format="RGBA")
    return rgba


def uniform_fraction(rgba: npt.NDArray[np.uint8], histogram: Sequence[int]) -> float:
    """Fraction of pixels equal to the most common colour of a height x width x 4 RGBA array;
    ``histogram`` is its per-channel histogram (Pillow's: R, G, B, A, 256 counts each)."""
    pixels = np.ascontiguousarray(rgba).reshape(-1).view(np.uint32)
    if pixels.size == 0:
        return 1.0
    values, counts = np.unique(pixels[::SAMPLE_STRIDE], return_counts=True)
    best = max(_count(pixels, colour) for colour in values[np.argsort(counts)[-CANDIDATES:]])
    if 2 * best <= pixels.size:
        best = max(best, _count(pixels, _majority_candidate(histogram)))
    return best / pixels.size


def _majority_candidate(histogram: Sequence[int]) -> np.uint32:
    """The colour covering more than half of the pixels, if one does (else some colour): each of
    its channels holds that channel's most common value."""
    channels = np.asarray(histogram).reshape(4, 256).argmax(axis=1).astype(np.uint8)
    colour: np.uint32 = channels.view(np.uint32)[0]
    return colour


def _count(pixels: npt.NDArray[np.uint32], colour: np.uint32) -> int:
    return int(np.count_nonzero(pixels == colour))


def _failed_check(
    size: int, fraction: float, policy: BlankPolicy, dom: DomEvidence | None
) -> BlankCheck | None:
    if size < policy.min_bytes:
        return "file_too_small"
    if fraction >= policy.max_uniform_fraction:
        if policy.content_aware and dom is not None and dom.shows_content():
            return None
        return "uniform_pixels"
    return None
