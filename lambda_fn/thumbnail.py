"""The 320x200 WebP thumbnail stored beside every screenshot: the top of the page, scaled."""

from __future__ import annotations

from io import BytesIO

from PIL import Image

SIZE = (320, 200)
QUALITY = 70


def thumbnail(png: bytes) -> bytes:
    """The top of ``png`` at the thumbnail's aspect ratio, scaled to ``SIZE``, as WebP."""
    with Image.open(BytesIO(png)) as image:
        width, height = image.size
        crop_height = min(height, round(width * SIZE[1] / SIZE[0]))
        crop_width = min(width, round(crop_height * SIZE[0] / SIZE[1]))
        top = image.convert("RGB").crop((0, 0, crop_width, crop_height))
    scaled = top.resize(SIZE, Image.Resampling.LANCZOS, reducing_gap=2.0)
    out = BytesIO()
    scaled.save(out, format="WEBP", quality=QUALITY, method=4)
    return out.getvalue()
