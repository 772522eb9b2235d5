"""Thumbnail and record stored beside a screenshot, write-once, in the local S3 emulator."""

from __future__ import annotations

import json
from io import BytesIO

from PIL import Image

from lambda_fn.local.emulator import LocalAws
from lambda_fn.pictures.diff import decode
from lambda_fn.pictures.thumbnail import SIZE, thumbnail
from lambda_fn.state.record import record
from lambda_fn.state.storage import CACHE_CONTROL, S3Store


def screenshot() -> bytes:
    image = Image.new("RGB", (1280, 800), "white")
    image.paste((30, 60, 120), (0, 0, 1280, 60))
    out = BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_thumbnail_and_record_beside_the_png(aws: LocalAws) -> None:
    s3 = aws.client("s3")
    store = S3Store(s3, bucket=aws.bucket, cdn_domain=aws.cdn_domain)
    png = screenshot()
    stored = store.put("job-1", "checks", png, width=1280, height=800)
    thumb_url = store.put_beside(stored.info, "webp", thumbnail(decode(png, "current")))
    body = record({"status": "captured", "diff": None}, browser="HeadlessChrome/1.0")
    record_url = store.put_beside(stored.info, "json", body)
    # write-once: a second put of the same address is accepted and changes nothing
    assert store.put_beside(stored.info, "json", b"{}") == record_url

    stem = stored.info.key.removesuffix(".png")
    assert thumb_url == f"https://{aws.cdn_domain}/{stem}.webp"
    thumb = s3.get_object(Bucket=aws.bucket, Key=f"{stem}.webp")
    assert thumb["ContentType"] == "image/webp"
    assert thumb["CacheControl"] == CACHE_CONTROL
    with Image.open(BytesIO(thumb["Body"].read())) as image:
        assert (image.format, image.size) == ("WEBP", SIZE)
    kept = s3.get_object(Bucket=aws.bucket, Key=f"{stem}.json")
    assert kept["ContentType"] == "application/json"
    saved = json.loads(kept["Body"].read())
    assert saved["status"] == "captured"
    assert saved["versions"]["browser"] == "HeadlessChrome/1.0"
    assert "screenshot-service" in saved["versions"]
    assert store.get(stored.info.key) == png
