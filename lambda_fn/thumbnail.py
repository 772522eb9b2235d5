"""The 320x200 WebP thumbnail stored beside every screenshot: the top of the page, scaled."""

from __future__ import annotations

from io import BytesIO

from PIL import Image

from lambda_fn.diff import Pixels

SIZE = (320, 200)
QUALITY = 70


def thumbnail(rgba: Pixels) -> bytes:
    """The top of a decoded screenshot at the thumbnail's aspect ratio, scaled to ``SIZE``, WebP."""
    height, width = rgba.shape[:2]
    crop_height = min(height, round(width * SIZE[1] / SIZE[0]))
    crop_width = min(width, round(crop_height * SIZE[0] / SIZE[1]))
    top = Image.fromarray(rgba[:crop_height, :crop_width], "RGBA").convert("RGB")
    scaled = top.resize(SIZE, Image.Resampling.LANCZOS, reducing_gap=2.0)
    out = BytesIO()
    scaled.save(out, format="WEBP", quality=QUALITY, method=4)
    return out.getvalue()
