"""What changed between two screenshots of the same build: changed fraction, readable regions and
a perceptual-hash distance, with whole-array numpy work only.

A pixel counts as changed when its colour differs (pixelmatch's YIQ distance, same threshold) from
every pixel of the other image within ``SHIFT_PX``, in both directions: anti-aliased edges and
sub-pixel text shifts find their colour one pixel away and do not count, a new or recoloured area
does. The neighbourhood test runs only on the pixels whose direct distance is over the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyspng
from PIL import Image

# pixelmatch's default threshold 0.1 on its maximum YIQ distance 35215 (for 0-255 channels).
MAX_YIQ_DELTA = 35215.0
THRESHOLD = 0.1
SHIFT_PX = 1
CELL_PX = 16  # changed pixels are grouped on this grid before labelling
MAX_REGIONS = 10
PHASH_SIZE = 32
PHASH_BITS = 8

Region = tuple[int, int, int, int]  # x, y, w, h
Rgb = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]


class DiffError(Exception):
    """A pair that cannot be compared; ``reason`` goes into the result."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Comparison:
    changed_fraction: float
    regions: list[Region]
    phash_distance: int


def compare(previous: bytes, current: bytes) -> Comparison:
    """Compare two PNGs; ``DiffError`` when either cannot be decoded or their sizes differ."""
    if previous == current:
        return Comparison(changed_fraction=0.0, regions=[], phash_distance=0)
    old, new = _decode(previous, "previous"), _decode(current, "current")
    if old.shape != new.shape:
        raise DiffError(
            f"sizes differ: {old.shape[1]}x{old.shape[0]} vs {new.shape[1]}x{new.shape[0]}",
            reason="size_mismatch",
        )
    mask = changed_mask(old, new)
    fraction = round(float(mask.mean()), 4)
    return Comparison(
        changed_fraction=fraction,
        regions=merge_regions(regions_of(mask)),
        phash_distance=phash_distance(old, new),
    )


def _decode(png: bytes, which: str) -> npt.NDArray[np.uint8]:
    try:
        rgb: npt.NDArray[np.uint8] = pyspng.load(png, format="RGB")
    except Exception as exc:  # pyspng raises plain RuntimeError/ValueError on bad data
        raise DiffError(f"{which} PNG does not decode: {exc}", reason=f"corrupt_{which}") from exc
    return rgb


def _yiq(rgb: npt.NDArray[np.uint8]) -> Rgb:
    matrix = np.array(
        [
            [0.29889531, 0.58662247, 0.11448223],
            [0.59597799, -0.27417610, -0.32180189],
            [0.21147017, -0.52261711, 0.31114694],
        ],
        dtype=np.float32,
    )
    yiq: Rgb = rgb.astype(np.float32) @ matrix.T
    return yiq


def _delta(a: Rgb, b: Rgb) -> npt.NDArray[np.float32]:
    d = a - b
    out: npt.NDArray[np.float32] = (
        0.5053 * d[..., 0] ** 2 + 0.299 * d[..., 1] ** 2 + 0.1957 * d[..., 2] ** 2
    )
    return out


def changed_mask(old: npt.NDArray[np.uint8], new: npt.NDArray[np.uint8]) -> Mask:
    """Pixels that changed, tolerant of anti-aliasing and shifts of up to ``SHIFT_PX``."""
    limit = MAX_YIQ_DELTA * THRESHOLD * THRESHOLD
    direct = np.any(old != new, axis=2)
    ys, xs = np.nonzero(direct)
    mask = np.zeros(direct.shape, dtype=np.bool_)
    if ys.size == 0:
        return mask
    a, b = _yiq(old[ys, xs]), _yiq(new[ys, xs])
    candidate = _delta(a, b) > limit
    ys, xs, a, b = ys[candidate], xs[candidate], a[candidate], b[candidate]
    changed = _unexplained(b, old, ys, xs, limit)
    explained = ~changed
    changed[explained] = _unexplained(a[explained], new, ys[explained], xs[explained], limit)
    mask[ys[changed], xs[changed]] = True
    return mask


def _unexplained(
    colours: Rgb,
    other: npt.NDArray[np.uint8],
    ys: npt.NDArray[np.intp],
    xs: npt.NDArray[np.intp],
    limit: float,
) -> Mask:
    """Which ``colours`` (at ``ys``, ``xs``) match no pixel of ``other`` within ``SHIFT_PX``."""
    height, width = other.shape[:2]
    flat = other.reshape(-1, 3)
    left = np.arange(ys.size)
    for dy, dx in _offsets():
        ny = np.clip(ys[left] + dy, 0, height - 1)
        nx = np.clip(xs[left] + dx, 0, width - 1)
        neighbours = np.take(flat, ny * width + nx, axis=0)
        left = left[_delta(colours[left], _yiq(neighbours)) > limit]
    out = np.zeros(ys.shape, dtype=np.bool_)
    out[left] = True
    return out


def _offsets() -> list[tuple[int, int]]:
    r = range(-SHIFT_PX, SHIFT_PX + 1)
    return [(dy, dx) for dy in r for dx in r if (dy, dx) != (0, 0)]


def regions_of(mask: Mask) -> list[Region]:
    """Bounding boxes of the connected groups of changed ``CELL_PX`` cells, tightened to pixels."""
    height, width = mask.shape
    rows, cols = math.ceil(height / CELL_PX), math.ceil(width / CELL_PX)
    padded = np.zeros((rows * CELL_PX, cols * CELL_PX), dtype=np.bool_)
    padded[:height, :width] = mask
    cells: Mask = np.asarray(padded.reshape(rows, CELL_PX, cols, CELL_PX).any(axis=(1, 3)))
    regions = []
    for r0, c0, r1, c1 in _components(cells):
        box = mask[r0 * CELL_PX : r1 * CELL_PX, c0 * CELL_PX : c1 * CELL_PX]
        ys, xs = np.nonzero(box)
        y0, x0 = r0 * CELL_PX + int(ys.min()), c0 * CELL_PX + int(xs.min())
        y1, x1 = r0 * CELL_PX + int(ys.max()) + 1, c0 * CELL_PX + int(xs.max()) + 1
        regions.append((x0, y0, x1 - x0, y1 - y0))
    return regions


def _components(cells: Mask) -> list[tuple[int, int, int, int]]:
    """Cell bounding boxes (r0, c0, r1, c1) of 8-connected groups, by flood fill on the grid."""
    seen = np.zeros(cells.shape, dtype=np.bool_)
    boxes = []
    for r, c in zip(*np.nonzero(cells), strict=True):
        if seen[r, c]:
            continue
        seen[r, c] = True
        stack, box = [(int(r), int(c))], [int(r), int(c), int(r) + 1, int(c) + 1]
        while stack:
            y, x = stack.pop()
            box = [min(box[0], y), min(box[1], x), max(box[2], y + 1), max(box[3], x + 1)]
            for ny in range(max(y - 1, 0), min(y + 2, cells.shape[0])):
                for nx in range(max(x - 1, 0), min(x + 2, cells.shape[1])):
                    if cells[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
        boxes.append((box[0], box[1], box[2], box[3]))
    return boxes


def merge_regions(regions: list[Region], limit: int = MAX_REGIONS) -> list[Region]:
    """Merge overlapping boxes, then the pair whose union adds least area, until ``limit`` left."""
    boxes = list(regions)
    while len(boxes) > 1:
        best: tuple[float, int, int] | None = None
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                cost = (
                    -math.inf
                    if _overlap(boxes[i], boxes[j])
                    else float(
                        _area(_union(boxes[i], boxes[j])) - _area(boxes[i]) - _area(boxes[j])
                    )
                )
                if best is None or cost < best[0]:
                    best = (cost, i, j)
        assert best is not None
        least, i, j = best
        if least != -math.inf and len(boxes) <= limit:
            break
        merged = _union(boxes[i], boxes[j])
        boxes = [b for k, b in enumerate(boxes) if k not in (i, j)] + [merged]
    return sorted(boxes, key=lambda b: (b[1], b[0]))


def _union(a: Region, b: Region) -> Region:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


def _area(a: Region) -> int:
    return a[2] * a[3]


def _overlap(a: Region, b: Region) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def phash(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """The 64-bit DCT perceptual hash (as imagehash.phash: 32x32 grey, low 8x8, over median)."""
    grey = (
        Image.fromarray(rgb).convert("L").resize((PHASH_SIZE, PHASH_SIZE), Image.Resampling.LANCZOS)
    )
    pixels = np.asarray(grey, dtype=np.float64)
    dct = _dct_matrix(PHASH_SIZE)
    low = (dct @ pixels @ dct.T)[:PHASH_BITS, :PHASH_BITS]
    bits: npt.NDArray[np.bool_] = low > np.median(low)
    return bits


def _dct_matrix(n: int) -> npt.NDArray[np.float64]:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    matrix: npt.NDArray[np.float64] = np.cos(np.pi * (2 * i + 1) * k / (2 * n))
    return matrix


def phash_distance(old: npt.NDArray[np.uint8], new: npt.NDArray[np.uint8]) -> int:
    return int(np.count_nonzero(phash(old) != phash(new)))
