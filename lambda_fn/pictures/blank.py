"""Blank judgement of a PNG: pure, no I/O (DESIGN.md, locked requirements).

Tier 1: a PNG smaller than ``min_bytes`` is blank. Tier 2: a PNG whose most common colour covers
``max_uniform_fraction`` or more of its pixels is blank. The ``content-aware`` policy (opt-in) may
overrule either tier, for sparse but real pages (a few lines on a flat colour compress below
``min_bytes``): when the DOM shows something of an app (controls,
painted boxes, drawn SVG or canvas, text, loaded images), the pixels that differ from the dominant
colour form structure (``MIN_STRUCTURE_TILES`` tiles, or ``MIN_STRUCTURE_CLUSTERS`` separate
clusters of tiles: not noise, not one lone spinner), and nothing says the page is not the app
(a loading indicator, a server or proxy error page, an empty app root, a lone endless
animation). Which way the evidence went is recorded in the judgement (``evidence``).
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
# Pixel structure under the content-aware policy: the image in TILE x TILE squares; a square is
# occupied when at least TILE_MIN_PIXELS of its pixels differ from the dominant colour.
TILE = 16
TILE_MIN_PIXELS = TILE + 1  # more than a hairline across it
MIN_STRUCTURE_TILES = 16
MIN_STRUCTURE_CLUSTERS = 2

BlankCheck = Literal["file_too_small", "uniform_pixels"]


@dataclass(frozen=True, slots=True)
class BlankPolicy:
    min_bytes: int = 5120
    max_uniform_fraction: float = 0.95
    content_aware: bool = False


@dataclass(frozen=True, slots=True)
class DomEvidence:
    """What the page's DOM showed at capture time (dom.py), recorded to tune the thresholds."""

    text_length: int
    visible_elements: int
    images_loaded: int
    images_total: int
    controls: int = 0  # visible buttons, inputs, links, tabs and other widgets
    painted_boxes: int = 0  # visible boxes with a background, border or shadow of their own
    graphics: int = 0  # SVGs and canvases that drew something
    endless_animations: int = 0  # visible elements animating forever (spinners, pulses)
    loading_indicator: str | None = None  # readiness.py's recognition
    server_error: str | None = None  # screens.py's recognition of server and proxy error pages
    empty_root: bool = False  # the app's mount point is there and empty

    def positive(self) -> tuple[str, ...]:
        """What the DOM shows of an app."""
        found = {
            "controls": self.controls,
            "painted_boxes": self.painted_boxes,
            "graphics": self.graphics,
            "text": self.text_length,
            "images": self.images_loaded,
        }
        return tuple(name for name, count in found.items() if count > 0)

    def negative(self) -> tuple[str, ...]:
        """What says the page is not the app (yet)."""
        found = []
        if self.loading_indicator:
            found.append(f"loading_indicator:{self.loading_indicator[:80]}")
        if self.server_error:
            found.append(f"server_error:{self.server_error[:80]}")
        if self.empty_root:
            found.append("empty_root")
        if self.endless_animations and not (self.controls or self.text_length):
            found.append("lone_animation")
        return tuple(found)


@dataclass(frozen=True, slots=True)
class ContentEvidence:
    """Why the content-aware policy kept or discarded a uniform capture."""

    structure_tiles: int  # occupied TILE x TILE squares
    structure_clusters: int  # groups of touching occupied squares
    positive: tuple[str, ...]
    negative: tuple[str, ...]

    def has_structure(self) -> bool:
        return (
            self.structure_tiles >= MIN_STRUCTURE_TILES
            or self.structure_clusters >= MIN_STRUCTURE_CLUSTERS
        )

    def shows_app(self) -> bool:
        return bool(self.positive) and not self.negative and self.has_structure()


@dataclass(frozen=True, slots=True)
class Judgement:
    size_bytes: int
    uniform_fraction: float
    max_stddev: float
    blank: bool
    failed_check: BlankCheck | None
    width: int
    height: int
    evidence: ContentEvidence | None = None  # content-aware policy, captures a tier failed only


def judge(
    png: bytes,
    policy: BlankPolicy,
    dom: DomEvidence | None = None,
    *,
    rgba: npt.NDArray[np.uint8] | None = None,
) -> Judgement:
    """Judge ``png`` (``rgba``: already decoded); every score is computed even when tier 1
    already decides, as evidence."""
    if rgba is None:
        rgba = decode_rgba(png)
    height, width = rgba.shape[:2]
    histogram = Image.frombuffer("RGBA", (width, height), rgba, "raw", "RGBA", 0, 1).histogram()
    colour, count = dominant_colour(rgba, histogram)
    fraction = count / max(1, width * height)
    stddev = max(ImageStat.Stat(histogram).stddev[:3])
    failed = _failed_check(len(png), fraction, policy)
    evidence = None
    if failed is not None and policy.content_aware and dom is not None:
        evidence = weigh_content(rgba, colour, dom)
        failed = None if evidence.shows_app() else failed
    return Judgement(
        size_bytes=len(png),
        uniform_fraction=round(fraction, 4),
        max_stddev=round(stddev, 2),
        blank=failed is not None,
        failed_check=failed,
        width=width,
        height=height,
        evidence=evidence,
    )


def weigh_content(
    rgba: npt.NDArray[np.uint8], colour: np.uint32, dom: DomEvidence
) -> ContentEvidence:
    """The content-aware policy's evidence on a uniform capture: the DOM's and the pixels'."""
    occupied = occupied_tiles(rgba, colour)
    return ContentEvidence(
        structure_tiles=int(np.count_nonzero(occupied)),
        structure_clusters=count_clusters(occupied),
        positive=dom.positive(),
        negative=dom.negative(),
    )


def occupied_tiles(rgba: npt.NDArray[np.uint8], colour: np.uint32) -> npt.NDArray[np.bool_]:
    """Which TILE x TILE squares hold at least TILE_MIN_PIXELS pixels other than ``colour``
    (the image's edges padded to whole squares)."""
    height, width = rgba.shape[:2]
    differs = np.ascontiguousarray(rgba).view(np.uint32)[..., 0] != colour
    rows, columns = -(-height // TILE), -(-width // TILE)
    if (rows * TILE, columns * TILE) != (height, width):
        differs = np.pad(differs, ((0, rows * TILE - height), (0, columns * TILE - width)))
    # Across each square's columns first (at most TILE per row fits a byte), then its rows.
    across = differs.reshape(rows * TILE, columns, TILE).sum(axis=2, dtype=np.uint8)
    counts = across.reshape(rows, TILE, columns).sum(axis=1, dtype=np.uint16)
    occupied: npt.NDArray[np.bool_] = counts >= TILE_MIN_PIXELS
    return occupied


def count_clusters(occupied: npt.NDArray[np.bool_]) -> int:
    """Groups of occupied squares touching at a side or a corner."""
    remaining = {(int(r), int(c)) for r, c in zip(*np.nonzero(occupied), strict=True)}
    clusters = 0
    while remaining:
        clusters += 1
        stack = [remaining.pop()]
        while stack:
            row, column = stack.pop()
            for neighbour in _neighbours(row, column):
                if neighbour in remaining:
                    remaining.remove(neighbour)
                    stack.append(neighbour)
    return clusters


def _neighbours(row: int, column: int) -> list[tuple[int, int]]:
    return [(row + dr, column + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]


def decode_rgba(png: bytes) -> npt.NDArray[np.uint8]:
    """Any PNG as a height x width x 4 array of 8-bit RGBA (libspng: about twice Pillow's speed)."""
    rgba: npt.NDArray[np.uint8] = pyspng.load(png, format="RGBA")
    return rgba


def dominant_colour(rgba: npt.NDArray[np.uint8], histogram: Sequence[int]) -> tuple[np.uint32, int]:
    """The most common colour of ``rgba`` (as its four bytes in one uint32) and its pixel count,
    exact whenever it covers more than half of the image (see ``SAMPLE_STRIDE``)."""
    pixels = np.ascontiguousarray(rgba).reshape(-1).view(np.uint32)
    if pixels.size == 0:
        return np.uint32(0), 0
    values, counts = np.unique(pixels[::SAMPLE_STRIDE], return_counts=True)
    best, best_count = max(
        ((colour, _count(pixels, colour)) for colour in values[np.argsort(counts)[-CANDIDATES:]]),
        key=lambda counted: counted[1],
    )
    if 2 * best_count <= pixels.size:
        majority = _majority_candidate(histogram)
        majority_count = _count(pixels, majority)
        if majority_count > best_count:
            return majority, majority_count
    return best, best_count


def _majority_candidate(histogram: Sequence[int]) -> np.uint32:
    """The colour covering more than half of the pixels, if one does (else some colour): each of
    its channels holds that channel's most common value."""
    channels = np.asarray(histogram).reshape(4, 256).argmax(axis=1).astype(np.uint8)
    colour: np.uint32 = channels.view(np.uint32)[0]
    return colour


def _count(pixels: npt.NDArray[np.uint32], colour: np.uint32) -> int:
    return int(np.count_nonzero(pixels == colour))


def _failed_check(size: int, fraction: float, policy: BlankPolicy) -> BlankCheck | None:
    if size < policy.min_bytes:
        return "file_too_small"
    if fraction >= policy.max_uniform_fraction:
        return "uniform_pixels"
    return None
