"""The Lambda handler in-process: real Chromium, pages on 127.0.0.1, AWS through the emulator."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lambda_fn.local.context import LocalContext
from lambda_fn.local.emulator import LocalAws
from lambda_fn.state.storage import CACHE_CONTROL, SCREENSHOTS_PREFIX
from tests.functional.conftest import EVENTS, HandlerFactory, load_event
from tests.pages import RICH_PAGE, WHITE_PAGE, PageServer

INVALID_EVENTS = sorted(path.name for path in (EVENTS / "invalid").glob("*.json"))
EXPECTED_REASONS = {
    "array.json": "invalid_request:event",
    "null.json": "invalid_request:event",
    "missing_job_id.json": "invalid_request:job_id",
    "job_id_slash.json": "invalid_request:job_id",
    "job_id_traversal.json": "invalid_request:job_id",
    "job_id_too_long.json": "invalid_request:job_id",
    "job_id_wrong_type.json": "invalid_request:job_id",
    "stage_invalid.json": "invalid_request:stage",
    "url_not_http.json": "url_blocked:scheme",
    "url_userinfo.json": "url_blocked:userinfo",
    "url_too_long.json": "url_blocked:too_long",
    "sqs_envelope.json": "invalid_request:envelope",
    "eventbridge_wrong_detail_type.json": "invalid_request:detail-type",
}


def invoke(module: Any, event: Any) -> dict[str, Any]:
    result: dict[str, Any] = module.handler(event, LocalContext())
    return result


def test_envelope_as_sam_local_generate_event_writes_it_is_captured(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler()
    event = load_event("eventbridge_sam.json", preview_url=pages.page("/", RICH_PAGE))
    assert "version" not in event
    assert invoke(module, event)["status"] == "captured"


def stored_objects(aws: LocalAws) -> list[dict[str, Any]]:
    """The stored screenshots (each has its thumbnail and record beside it)."""
    listing = aws.client("s3").list_objects_v2(Bucket=aws.bucket, Prefix=SCREENSHOTS_PREFIX)
    return [item for item in listing.get("Contents", []) if item["Key"].endswith(".png")]


def test_capture_stores_one_immutable_object_and_publishes_the_result(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler()
    event = load_event("eventbridge.json", preview_url=pages.page("/", RICH_PAGE))
    result = invoke(module, event)

    assert result["status"] == "captured", result
    [stored] = stored_objects(aws)
    key = result["image"]["key"]
    assert stored["Key"] == key
    head = aws.client("s3").head_object(Bucket=aws.bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == CACHE_CONTROL
    body = aws.client("s3").get_object(Bucket=aws.bucket, Key=key)["Body"].read()
    digest = hashlib.sha256(body).hexdigest()
    assert result["image"]["sha256"] == digest
    assert key == f"screenshots/{event['detail']['job_id']}/checks-{digest[:16]}.png"
    assert base64.b64decode(head["ChecksumSHA256"]) == hashlib.sha256(body).digest()
    assert result["snapshot_url"] == f"https://{aws.cdn_domain}/{key}"
    [published] = aws.received_results()
    assert published["detail-type"] == "Screenshot Result"
    assert published["source"] == "screenshot-service"
    assert published["detail"] == result


def test_blank_page_is_discarded_and_only_its_evidence_is_kept_apart(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler()
    result = invoke(module, load_event("direct.json", preview_url=pages.page("/", WHITE_PAGE)))
    assert (result["status"], result["reason"], result["snapshot_url"]) == (
        "discarded",
        "blank:file_too_small",
        None,
    )
    assert stored_objects(aws) == []
    listing = aws.client("s3").list_objects_v2(Bucket=aws.bucket)["Contents"]
    assert [item["Key"] for item in listing] == [result["evidence_key"]]
    body = aws.client("s3").get_object(Bucket=aws.bucket, Key=result["evidence_key"])
    png = body["Body"].read()
    digest = hashlib.sha256(png).hexdigest()[:16]
    assert result["evidence_key"] == f"discarded/{result['job_id']}/ready-{digest}.png"
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (1280, 800)
    assert image.getcolors() == [(1280 * 800, (255, 255, 255))]  # the white page it discarded


def test_three_failed_stages_open_the_breaker_for_the_rest_of_the_build(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler(CAPTURE_STAGES="s1,s2,s3,s4,s5")
    broken = pages.page("/", b"<h1>missing</h1>", status=404)
    results = [
        invoke(module, load_event("direct.json", stage=stage, preview_url=broken))
        for stage in ("s1", "s2", "s3", "s4")
    ]
    assert [r["status"] for r in results] == ["failed", "failed", "failed", "skipped"]
    assert results[3]["reason"] == "circuit_open"
    assert pages.hits["/"] == 3


def test_open_breaker_holds_in_a_separate_process(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler(CAPTURE_STAGES="s1,s2,s3,s4")
    broken = pages.page("/", b"<h1>missing</h1>", status=404)
    for stage in ("s1", "s2", "s3"):
        invoke(module, load_event("direct.json", stage=stage, preview_url=broken))
    event = load_event("direct.json", stage="s4", preview_url=pages.page("/ok", RICH_PAGE))
    result = run_handler_in_new_process(event)
    assert (result["status"], result["reason"]) == ("skipped", "circuit_open")
    assert pages.hits["/ok"] == 0


def run_handler_in_new_process(event: Any) -> dict[str, Any]:
    """A second execution environment: a new interpreter with the same environment."""
    script = textwrap.dedent(
        """
        import json, sys
        from lambda_fn.handler import handler
        from lambda_fn.local.context import LocalContext
        result = handler(json.loads(sys.argv[1]), LocalContext())
        print("RESULT " + json.dumps(result))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(event)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    [line] = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return result


def test_capture_resets_the_failure_count(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler(CAPTURE_STAGES="s1,s2,s3,s4,s5")
    broken = pages.page("/broken", b"<h1>missing</h1>", status=404)
    good = pages.page("/", RICH_PAGE)
    urls = [broken, broken, good, broken, broken]
    statuses = [
        invoke(module, load_event("direct.json", stage=f"s{i}", preview_url=url))["status"]
        for i, url in enumerate(urls, start=1)
    ]
    assert statuses == ["failed", "failed", "captured", "failed", "failed"]


def test_same_event_delivered_twice_captures_once(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler()
    event = load_event("eventbridge.json", preview_url=pages.page("/", RICH_PAGE))
    first = invoke(module, event)
    second = invoke(module, event)
    assert first["status"] == "captured"
    assert second == first
    assert len(stored_objects(aws)) == 1
    assert pages.hits["/"] == 1
    assert module.SERVICE.chromium.launches == 1


def test_identical_bytes_stored_again_hit_the_write_once_guard_and_still_count(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler()
    event = load_event("direct.json", preview_url=pages.page("/", RICH_PAGE))
    first = invoke(module, event)
    forget_idempotency_records(aws)
    second = invoke(module, event)
    assert (first["status"], second["status"]) == ("captured", "captured")
    assert second["image"]["key"] == first["image"]["key"]
    assert pages.hits["/"] == 2  # really captured twice, the second upload answered 412
    [stored] = stored_objects(aws)
    assert stored["Key"] == first["image"]["key"]


def forget_idempotency_records(aws: LocalAws) -> None:
    dynamodb = aws.client("dynamodb")
    for item in dynamodb.scan(TableName=aws.table)["Items"]:
        if not item["id"]["S"].startswith("breaker#"):
            dynamodb.delete_item(TableName=aws.table, Key={"id": item["id"]})


@pytest.mark.parametrize("name", INVALID_EVENTS)
def test_invalid_event_is_rejected_without_navigation(
    load_handler: HandlerFactory, aws: LocalAws, name: str
) -> None:
    module = load_handler()
    result = invoke(module, json.loads((EVENTS / "invalid" / name).read_text()))
    assert (result["status"], result["reason"]) == ("rejected", EXPECTED_REASONS[name])
    assert result["snapshot_url"] is None
    assert module.SERVICE.chromium.launches == 0


def test_every_invalid_sample_has_an_expected_reason() -> None:
    assert set(INVALID_EVENTS) == set(EXPECTED_REASONS)


def test_disabled_flag_skips_without_starting_a_browser(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler(SCREENSHOT_ENABLED="false")
    result = invoke(module, load_event("direct.json", preview_url=pages.page("/", RICH_PAGE)))
    assert (result["status"], result["reason"], result["snapshot_url"]) == (
        "skipped",
        "disabled",
        None,
    )
    assert module.SERVICE.chromium.launches == 0
    assert pages.hits["/"] == 0


def test_stage_outside_capture_stages_is_skipped(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler()
    event = load_event("non_capture_stage.json", preview_url=pages.page("/", RICH_PAGE))
    result = invoke(module, event)
    assert (result["status"], result["reason"]) == ("skipped", "stage_not_captured")
    assert module.SERVICE.chromium.launches == 0


def test_unreachable_result_bus_does_not_fail_the_capture(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler(AWS_ENDPOINT_URL_EVENTS="http://127.0.0.1:9")
    result = invoke(module, load_event("direct.json", preview_url=pages.page("/", RICH_PAGE)))
    assert result["status"] == "captured"
    assert len(stored_objects(aws)) == 1


def test_unreachable_state_table_fails_open(
    load_handler: HandlerFactory, aws: LocalAws, pages: PageServer
) -> None:
    module = load_handler(AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:9")
    result = invoke(module, load_event("direct.json", preview_url=pages.page("/", RICH_PAGE)))
    assert result["status"] == "captured"
    assert len(stored_objects(aws)) == 1


def test_missing_bucket_fails_the_cold_start_naming_the_variable(
    load_handler: HandlerFactory,
) -> None:
    from lambda_fn.errors import ConfigError

    with pytest.raises(ConfigError, match="SCREENSHOTS_BUCKET"):
        load_handler(SCREENSHOTS_BUCKET="")
