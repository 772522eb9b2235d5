"""Two stages of one build through the handler: the second is diffed against the first."""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

import pytest
from PIL import Image

from lambda_fn.local.context import LocalContext
from lambda_fn.local.emulator import LocalAws
from lambda_fn.state.storage import CACHE_CONTROL
from tests.functional.conftest import HandlerFactory, load_event
from tests.pages import RICH_PAGE, PageServer

CHANGED_PAGE = RICH_PAGE.replace(
    b"<h1>Todo dashboard</h1>",
    b"<h1>Todo dashboard</h1><div style='width:600px;height:200px;background:#c33'></div>",
)


def capture(module: Any, pages: PageServer, stage: str, body: bytes) -> dict[str, Any]:
    event = load_event("eventbridge.json", preview_url=pages.page(f"/{stage}", body), stage=stage)
    result: dict[str, Any] = module.handler(event, LocalContext())
    assert result["status"] == "captured", result
    return result


def test_second_stage_is_diffed_against_the_first(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler()
    first = capture(module, pages, "checks", RICH_PAGE)
    assert first["diff"] is None
    assert first["diff_reason"] == "first_capture"
    second = capture(module, pages, "ready", CHANGED_PAGE)
    diff = second["diff"]
    assert diff["against"] == first["image"]["key"]
    assert diff["stage"] == "checks"
    assert 0.05 < diff["changed_fraction"] < 0.9
    assert 1 <= len(diff["regions"]) <= 10
    s3 = aws.client("s3")
    stem = second["image"]["key"].removesuffix(".png")
    assert second["thumbnail_url"].endswith(f"{stem}.webp")
    kept = json.loads(s3.get_object(Bucket=aws.bucket, Key=f"{stem}.json")["Body"].read())
    assert kept["diff"] == json.loads(json.dumps(diff))
    assert kept["versions"]["browser"].startswith("HeadlessChrome/")
    assert kept["image"] == second["image"]


def test_each_stored_object_has_its_content_type_and_immutable_caching(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    result = capture(load_handler(), pages, "checks", RICH_PAGE)
    stem = result["image"]["key"].removesuffix(".png")
    s3 = aws.client("s3")
    for suffix, content_type in (
        ("png", "image/png"),
        ("webp", "image/webp"),
        ("json", "application/json"),
    ):
        head = s3.head_object(Bucket=aws.bucket, Key=f"{stem}.{suffix}")
        assert (head["ContentType"], head["CacheControl"]) == (content_type, CACHE_CONTROL)
    assert result["thumbnail_url"] == f"https://{aws.cdn_domain}/{stem}.webp"
    assert result["record_url"] == f"https://{aws.cdn_domain}/{stem}.json"
    listed = s3.list_objects_v2(Bucket=aws.bucket)["Contents"]
    assert all(item["Key"].startswith("screenshots/") for item in listed)


def test_unchanged_page_diffs_to_zero(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler()
    capture(module, pages, "checks", RICH_PAGE)
    second = capture(module, pages, "ready", RICH_PAGE)
    assert second["diff"]["changed_fraction"] == 0.0
    assert second["diff"]["regions"] == []


def small_png() -> bytes:
    picture = BytesIO()
    Image.new("RGB", (640, 400), "white").save(picture, format="PNG")
    return picture.getvalue()


@pytest.mark.parametrize(
    ("previous", "reason"),
    [
        (None, "previous_unreadable"),  # deleted
        (b"\x89PNG not really", "corrupt_previous"),
        (small_png(), "size_mismatch"),
    ],
)
def test_bad_previous_screenshot_leaves_diff_null_and_the_capture_stored(
    load_handler: HandlerFactory,
    aws: LocalAws,
    pages: PageServer,
    previous: bytes | None,
    reason: str,
) -> None:
    module = load_handler()
    first = capture(module, pages, "checks", RICH_PAGE)
    s3, key = aws.client("s3"), first["image"]["key"]
    if previous is None:
        s3.delete_object(Bucket=aws.bucket, Key=key)
    else:
        s3.put_object(Bucket=aws.bucket, Key=key, Body=previous)
    second = capture(module, pages, "ready", CHANGED_PAGE)
    assert second["diff"] is None
    assert second["diff_reason"] == reason
    assert second["snapshot_url"] is not None
    assert second["thumbnail_url"] is not None


def test_unreachable_state_table_still_captures(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler(STATE_TABLE="no-such-table")
    result = capture(module, pages, "checks", RICH_PAGE)
    assert result["diff"] is None
    assert result["diff_reason"] == "state_unavailable"
    assert result["thumbnail_url"] is not None
