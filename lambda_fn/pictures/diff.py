"""What changed between two screenshots of the same build: changed fraction, readable regions and
a perceptual-hash distance, with whole-array numpy work only.

A pixel counts as changed when its colour differs (pixelmatch's YIQ distance, same threshold) from
every pixel of the other image within ``SHIFT_PX``, in both directions: anti-aliased edges and
sub-pixel text shifts find their colour one pixel away and do not count, a new or recoloured area
does. The neighbourhood test runs only on the pixels whose direct distance is over the threshold,
and whole-array passes settle most pixels first: one whose channels are all within
``CLOSE_DELTA`` of the other image's at the same place is unchanged (a photo decoded anew), one
whose luma is out of ``LUMA_REACH`` of the other's neighbourhood is changed.

Where a ``CELL_PX`` cell already holds a pixel that is surely changed, its undecided pixels do not
alter the regions, so the exact test runs on a bounded random sample of them and their share is
extrapolated (within ``FRACTION_ERROR`` of the exact fraction but for a ``SAMPLE_RISK`` chance);
undecided pixels in other cells are all tested exactly, so regions cover every changed pixel and a
pair that differs only by anti-aliasing stays exactly 0.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from lambda_fn.pictures.blank import decode_rgba

# pixelmatch's default threshold 0.1 on its maximum YIQ distance 35215 (for 0-255 channels).
MAX_YIQ_DELTA = 35215.0
THRESHOLD = 0.1
LIMIT = MAX_YIQ_DELTA * THRESHOLD * THRESHOLD
# pixelmatch's YIQ distance 0.5053 dY^2 + 0.299 dI^2 + 0.1957 dQ^2, as a plain squared distance:
# RGB times this matrix gives Y, I and Q each scaled by the square root of its weight.
Y_WEIGHT = 0.5053
SCALED_YIQ = (
    np.array(
        [
            [0.29889531, 0.58662247, 0.11448223],
            [0.59597799, -0.27417610, -0.32180189],
            [0.21147017, -0.52261711, 0.31114694],
        ],
        dtype=np.float32,
    )
    * np.sqrt(np.array([[Y_WEIGHT], [0.299], [0.1957]], dtype=np.float32))
).T
# Pillow's luma is within 0.75 of YIQ's Y (rounding, and weights 0.0005 apart): 1.5 for two.
LUMA_ERROR = 1.5
# Lumas farther apart than this put the YIQ distance over the threshold on Y alone.
LUMA_REACH = math.ceil(math.sqrt(LIMIT / Y_WEIGHT) + LUMA_ERROR)
# Two colours whose R, G and B each differ by at most this are within the threshold: the largest
# YIQ distance of a difference in that cube is at one of its corners (25 here: 338 < 352).
CLOSE_DELTA = math.floor(
    math.sqrt(
        LIMIT
        / max(
            float(np.sum((np.array(signs) @ SCALED_YIQ.astype(np.float64)) ** 2))
            for signs in itertools.product((-1.0, 1.0), repeat=3)
        )
    )
)
SHIFT_PX = 1
CELL_SHIFT = 4
CELL_PX = 1 << CELL_SHIFT  # changed pixels are grouped on this grid before labelling
# The sampled share's bound on the changed fraction (rounding to 4 places adds 0.00005: the target
# is 0.01) and the chance of exceeding it (Hoeffding: ln(2 / risk) / (2 t^2) samples for error t).
FRACTION_ERROR = 0.009
SAMPLE_RISK = 1e-9
SAMPLE_SEED = 15
PROBE_STRIDE = 16  # every this many undecided pixels of cells with no sure change are tested first
MAX_REGIONS = 10
PHASH_SIZE = 32
PHASH_BITS = 8

Region = tuple[int, int, int, int]  # x, y, w, h
Pixels = npt.NDArray[np.uint8]  # height x width x 4, RGBA
Grey = npt.NDArray[np.uint8]  # height x width
Yiq = npt.NDArray[np.float32]  # 3 x N: Y, I and Q rows
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


@dataclass(frozen=True, slots=True)
class Changes:
    """Changed pixels: ``count`` (extrapolated where sampled), ``cover`` (every changed pixel, and
    the undecided pixels of sampled cells) and ``estimated`` (undecided pixels not all tested)."""

    count: float
    cover: Mask
    estimated: int


def compare(
    previous: bytes | Picture, current: bytes | Picture, *, tolerance: float = FRACTION_ERROR
) -> Comparison:
    """Compare two PNGs, each as bytes or already a ``Picture`` (``tolerance``: the sampled
    share's error bound on the fraction, 0 for the exact test everywhere); ``DiffError`` when
    either cannot be decoded or their sizes differ."""
    if _png(previous) == _png(current):
        return Comparison(changed_fraction=0.0, regions=[], phash_distance=0)
    old = previous if isinstance(previous, Picture) else Picture.of(previous, which="previous")
    new = current if isinstance(current, Picture) else Picture.of(current)
    if old.rgba.shape != new.rgba.shape:
        height, width = old.rgba.shape[:2]
        raise DiffError(
            f"sizes differ: {width}x{height} vs {new.rgba.shape[1]}x{new.rgba.shape[0]}",
            reason="size_mismatch",
        )
    found = changes(old, new, tolerance)
    return Comparison(
        changed_fraction=round(found.count / found.cover.size, 4),
        regions=merge_regions(regions_of(found.cover)),
        phash_distance=int(np.count_nonzero(old.phash != new.phash)),
    )


def _png(image: bytes | Picture) -> bytes:
    return image.png if isinstance(image, Picture) else image


def decode(png: bytes, which: str) -> Pixels:
    """``png`` as a height x width x 4 RGBA array; ``DiffError`` (``corrupt_<which>``) if it is not
    a PNG."""
    try:
        return decode_rgba(png)
    except Exception as exc:  # pyspng raises plain RuntimeError/ValueError on bad data
        raise DiffError(f"{which} PNG does not decode: {exc}", reason=f"corrupt_{which}") from exc


def luma(rgba: Pixels) -> Grey:
    """Pillow's 8-bit luma (ITU-R 601 weights, within ``LUMA_ERROR`` of YIQ's Y)."""
    height, width = rgba.shape[:2]
    image = Image.frombuffer("RGBA", (width, height), rgba, "raw", "RGBA", 0, 1)
    grey: Grey = np.asarray(image.convert("L"))
    return grey


def _yiq(words: npt.NDArray[np.uint32]) -> Yiq:
    """Scaled YIQ (3 x N) of RGBA pixels held as 32-bit words."""
    rgba = words.view(np.uint8).reshape(-1, 4)
    # One contiguous channel at a time, not ``@`` on N x 3 rows: a product goes to BLAS, whose
    # threads cost several times the arithmetic on a busy machine, and row-wise broadcasts are
    # several times slower than whole-column multiply-adds.
    r, g, b = (rgba[:, channel].astype(np.float32) for channel in range(3))
    yiq: Yiq = np.stack(
        [r * SCALED_YIQ[0, k] + g * SCALED_YIQ[1, k] + b * SCALED_YIQ[2, k] for k in range(3)]
    )
    return yiq


def _delta(a: Yiq, b: Yiq) -> npt.NDArray[np.float32]:
    d = a - b
    out: npt.NDArray[np.float32] = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    return out


@dataclass(frozen=True, slots=True)
class _Flat:
    """An image edge-padded by ``SHIFT_PX`` and flattened: a neighbour is an index offset."""

    words: npt.NDArray[np.uint32]
    luma: Grey
    width: int

    @classmethod
    def of(cls, rgba: Pixels, grey: Grey) -> _Flat:
        words = np.pad(rgba.view(np.uint32)[..., 0], SHIFT_PX, mode="edge")
        luma = np.pad(grey, SHIFT_PX, mode="edge")
        return cls(words.reshape(-1), luma.reshape(-1), words.shape[1])


@dataclass(frozen=True, slots=True)
class Picture:
    """A decoded screenshot and what comparing it needs, worked out once: its luma, the luma
    bounds beyond which a pixel of the other image cannot match any pixel within ``SHIFT_PX``
    here, the padded flat form for the exact test and its perceptual hash."""

    png: bytes
    rgba: Pixels
    luma: Grey
    floor: Grey
    ceiling: Grey
    flat: _Flat
    phash: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, png: bytes, rgba: Pixels | None = None, *, which: str = "current") -> Picture:
        """``png`` (``rgba``: already decoded); ``DiffError`` (``corrupt_<which>``) if it is
        not a PNG."""
        pixels = decode(png, which) if rgba is None else rgba
        grey = luma(pixels)
        low, high = _neighbourhood_range(grey)
        # In 8 bits: a bound that would leave 0-255 is clamped to it, where nothing lies beyond.
        floor = np.maximum(low, LUMA_REACH) - LUMA_REACH
        ceiling = np.minimum(high, 255 - LUMA_REACH) + LUMA_REACH
        return cls(png, pixels, grey, floor, ceiling, _Flat.of(pixels, grey), phash(grey))


def changes(old: Picture, new: Picture, tolerance: float = FRACTION_ERROR) -> Changes:
    """Pixels that changed, tolerant of anti-aliasing and shifts of up to ``SHIFT_PX``.

    Cheapest first: a pixel whose R, G and B each lie within ``CLOSE_DELTA`` of the other
    image's at the same place is unchanged (re-encoded photos, colour noise); a pixel whose luma
    lies farther than
    ``LUMA_REACH`` outside the luma range of the other image's neighbourhood is changed (no
    neighbour can be within the threshold), in whole-array passes; the rest get the exact
    neighbourhood test (all of them in cells with no sure change, a sample in the others).
    """
    direct = _apart(old.rgba, new.rgba)
    if not direct.any():
        return Changes(0.0, direct, 0)
    cover: Mask = direct & (_beyond(new.luma, old) | _beyond(old.luma, new))
    undecided = direct & ~cover
    ys, xs = np.nonzero(undecided)
    count = float(np.count_nonzero(cover))
    if ys.size == 0:
        return Changes(count, cover, 0)
    before, after = old.flat, new.flat
    at = (ys + SHIFT_PX) * before.width + xs + SHIFT_PX
    # A probe of the pixels in open cells (no sure change yet) settles most changed cells cheaply.
    cells = _cells(cover)
    rows, cols = ys >> CELL_SHIFT, xs >> CELL_SHIFT
    tested = ~cells[rows, cols]
    probe = np.flatnonzero(tested)[::PROBE_STRIDE]
    hit = probe[_changed(at[probe], before, after)]
    cells[rows[hit], cols[hit]] = True
    settled = cells[rows, cols]
    tested[:] = False
    tested[probe] = True
    pending = np.flatnonzero(settled & ~tested)
    size = _sample_size(pending.size, cover.size, tolerance)
    rest = np.flatnonzero(~tested if size == pending.size else ~tested & ~settled)
    hit = np.concatenate((hit, rest[_changed(at[rest], before, after)]))
    cover[ys[hit], xs[hit]] = True
    count += hit.size
    if size == pending.size:
        return Changes(count, cover, 0)
    sample = pending[np.random.default_rng(SAMPLE_SEED).integers(0, pending.size, size)]
    share = float(np.count_nonzero(_changed(at[sample], before, after))) / size
    height, width = cover.shape
    spread = np.repeat(np.repeat(cells, CELL_PX, axis=0), CELL_PX, axis=1)[:height, :width]
    cover |= undecided & spread
    return Changes(count + share * pending.size, cover, int(pending.size))


def _apart(a: Pixels, b: Pixels) -> Mask:
    """Where some RGB channel differs by more than ``CLOSE_DELTA`` (in whole-array uint8
    passes: the larger less the smaller, channel by channel)."""
    spread = np.maximum(a, b)
    spread -= np.minimum(a, b)
    widest = np.maximum(np.maximum(spread[..., 0], spread[..., 1]), spread[..., 2])
    out: Mask = widest > CLOSE_DELTA
    return out


def _sample_size(pending: int, total: int, tolerance: float) -> int:
    """How many of ``pending`` undecided pixels to test for their share of ``total`` to be within
    ``tolerance`` (all of them when that is no fewer)."""
    if tolerance <= 0 or pending == 0:
        return pending
    error = tolerance * total / pending
    return min(pending, math.ceil(math.log(2 / SAMPLE_RISK) / (2 * error * error)))


def _changed(at: npt.NDArray[np.intp], before: _Flat, after: _Flat) -> Mask:
    """The exact test of the pixels at flat indices ``at``: farther than the threshold from every
    pixel within ``SHIFT_PX`` in the other image, both ways."""
    a, b = _yiq(before.words[at]), _yiq(after.words[at])
    out = _delta(a, b) > LIMIT
    candidate = np.flatnonzero(out)
    at, a, b = at[candidate], a[:, candidate], b[:, candidate]
    lumas = (after.luma[at].astype(np.int16), before.luma[at].astype(np.int16))
    changed = _unexplained(b, lumas[0], before, at)
    explained = ~changed
    changed[explained] = _unexplained(a[:, explained], lumas[1][explained], after, at[explained])
    out[candidate] = changed
    return out


def _beyond(grey: Grey, other: Picture) -> Mask:
    """Where ``grey`` lies more than ``LUMA_REACH`` outside ``other``'s neighbourhood range."""
    out: Mask = (grey > other.ceiling) | (grey < other.floor)
    return out


def _neighbourhood_range(grey: Grey) -> tuple[Grey, Grey]:
    """Per pixel, the least and greatest value within ``SHIFT_PX`` (edges repeated)."""
    padded = np.pad(grey, SHIFT_PX, mode="edge")
    ranges = []
    for reduce in (np.minimum, np.maximum):
        rows = padded[:, : -2 * SHIFT_PX]
        for dx in range(1, 2 * SHIFT_PX + 1):
            rows = reduce(rows, padded[:, dx : padded.shape[1] - 2 * SHIFT_PX + dx])
        out = rows[: -2 * SHIFT_PX]
        for dy in range(1, 2 * SHIFT_PX + 1):
            out = reduce(out, rows[dy : rows.shape[0] - 2 * SHIFT_PX + dy])
        ranges.append(out)
    return ranges[0], ranges[1]


def _unexplained(
    colours: Yiq, lumas: npt.NDArray[np.int16], other: _Flat, at: npt.NDArray[np.intp]
) -> Mask:
    """Which ``colours`` (of lumas ``lumas``, at flat indices ``at``) match no pixel of ``other``
    within ``SHIFT_PX``."""
    left = np.arange(at.size)
    for dy, dx in _offsets():
        near = at[left] + (dy * other.width + dx)
        # Lumas farther apart than LUMA_REACH cannot match: the YIQ distance only for the rest.
        maybe = np.flatnonzero(np.abs(other.luma[near] - lumas[left]) <= LUMA_REACH)
        matched = _delta(colours[:, left[maybe]], _yiq(other.words[near[maybe]])) <= LIMIT
        keep = np.ones(left.size, dtype=np.bool_)
        keep[maybe[matched]] = False
        left = left[keep]
    out = np.zeros(at.shape, dtype=np.bool_)
    out[left] = True
    return out


def _offsets() -> list[tuple[int, int]]:
    r = range(-SHIFT_PX, SHIFT_PX + 1)
    return [(dy, dx) for dy in r for dx in r if (dy, dx) != (0, 0)]


def regions_of(mask: Mask) -> list[Region]:
    """Bounding boxes of the connected groups of changed ``CELL_PX`` cells, tightened to pixels."""
    regions = []
    for r0, c0, r1, c1 in _components(_cells(mask)):
        box = mask[r0 * CELL_PX : r1 * CELL_PX, c0 * CELL_PX : c1 * CELL_PX]
        ys, xs = np.flatnonzero(box.any(axis=1)), np.flatnonzero(box.any(axis=0))
        y0, x0 = r0 * CELL_PX + int(ys[0]), c0 * CELL_PX + int(xs[0])
        y1, x1 = r0 * CELL_PX + int(ys[-1]) + 1, c0 * CELL_PX + int(xs[-1]) + 1
        regions.append((x0, y0, x1 - x0, y1 - y0))
    return regions


def _cells(mask: Mask) -> Mask:
    """Which ``CELL_PX`` cells hold a pixel of ``mask``."""
    height, width = mask.shape
    rows, cols = math.ceil(height / CELL_PX), math.ceil(width / CELL_PX)
    padded = np.zeros((rows * CELL_PX, cols * CELL_PX), dtype=np.bool_)
    padded[:height, :width] = mask
    cells: Mask = np.asarray(padded.reshape(rows, CELL_PX, cols, CELL_PX).any(axis=(1, 3)))
    return cells


def _components(cells: Mask) -> list[tuple[int, int, int, int]]:
    """Cell bounding boxes (r0, c0, r1, c1) of 8-connected groups: runs of changed cells in each
    row, joined with the runs they touch (diagonals included) in the row above."""
    runs: list[tuple[int, int, int]] = []  # row, first column, column after the last
    parent: list[int] = []
    above: list[int] = []
    for row, line in enumerate(cells):
        edges = np.flatnonzero(np.diff(line, prepend=False, append=False))
        here = []
        for start, end in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            index = len(runs)
            runs.append((row, start, end))
            parent.append(index)
            for other in above:
                if runs[other][1] <= end and start <= runs[other][2]:
                    parent[_root(parent, other)] = _root(parent, index)
            here.append(index)
        above = here
    boxes: dict[int, list[int]] = {}
    for index, (row, start, end) in enumerate(runs):
        box = boxes.setdefault(_root(parent, index), [row, start, row + 1, end])
        box[:] = [min(box[0], row), min(box[1], start), row + 1, max(box[3], end)]
    return [(b[0], b[1], b[2], b[3]) for b in boxes.values()]


def _root(parent: list[int], index: int) -> int:
    while parent[index] != index:
        parent[index] = parent[parent[index]]
        index = parent[index]
    return index


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


def phash(grey: Grey) -> npt.NDArray[np.bool_]:
    """The 64-bit DCT perceptual hash (as imagehash.phash: 32x32 grey, low 8x8, over median)."""
    small = Image.fromarray(grey).resize(
        (PHASH_SIZE, PHASH_SIZE), Image.Resampling.LANCZOS, reducing_gap=3.0
    )
    pixels = np.asarray(small, dtype=np.float64)
    dct = _dct_matrix(PHASH_SIZE)
    low = (dct @ pixels @ dct.T)[:PHASH_BITS, :PHASH_BITS]
    bits: npt.NDArray[np.bool_] = low > np.median(low)
    return bits


def _dct_matrix(n: int) -> npt.NDArray[np.float64]:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    matrix: npt.NDArray[np.float64] = np.cos(np.pi * (2 * i + 1) * k / (2 * n))
    return matrix
