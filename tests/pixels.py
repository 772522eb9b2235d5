"""Reading test verdicts from pixels."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def colour_share(pixels: NDArray[np.uint8], rgb: tuple[int, int, int], tolerance: int = 6) -> float:
    """The share of ``pixels`` (height x width x 3) within ``tolerance`` of ``rgb`` per channel."""
    close = np.abs(pixels.astype(np.int16) - np.array(rgb, dtype=np.int16)).max(axis=2) <= tolerance
    return float(close.mean())
