"""Request parsing (never raises but InvalidRequestError) and the result's dict form."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambda_fn.errors import InvalidRequestError
from lambda_fn.events import CaptureRequest, CaptureResult, ImageInfo, PageInfo, parse_request
from lambda_fn.network.guard import parse_url
from lambda_fn.pictures.blank import DomEvidence, Judgement

# The request contract of DESIGN.md, written out independently of the models.
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
STAGE = re.compile(r"[a-z][a-z0-9_-]{0,31}")

EVENTS = Path(__file__).parent.parent.parent / "events"
PAYLOAD: dict[str, Any] = {
    "job_id": "9f1c2e4a-0b7d-4c1e-a3f2-6d5e4c3b2a10",
    "stage": "ready",
    "preview_url": "https://3000-abc123.e2b.app",
}


def envelope(detail: object, **changes: object) -> dict[str, Any]:
    """An event as EventBridge delivers it to a Lambda target."""
    event: dict[str, Any] = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "Build Stage Completed",
        "source": "app-generator.build",
        "account": "111122223333",
        "time": "2026-05-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }
    event.update(changes)
    return event


def reason_for(event: object) -> str:
    with pytest.raises(InvalidRequestError) as caught:
        parse_request(event)
    return caught.value.reason


def test_direct_payload_is_parsed_into_a_request() -> None:
    assert parse_request(PAYLOAD) == CaptureRequest(**PAYLOAD)


def test_eventbridge_envelope_yields_its_detail_as_the_request() -> None:
    assert parse_request(envelope(PAYLOAD)) == CaptureRequest(**PAYLOAD)


def test_unknown_payload_fields_are_ignored() -> None:
    assert parse_request({**PAYLOAD, "build": 7}) == CaptureRequest(**PAYLOAD)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("job_id", "a" * 128),
        ("job_id", "A"),
        ("job_id", "0_build-7"),
        ("stage", "c"),
        ("stage", "a" * 32),
        ("stage", "post_deploy-2"),
        ("preview_url", "http://3000-abc123.e2b.app/"),
        ("preview_url", "https://3000-abc123.e2b.app:8443/path?q=1#top"),
        ("preview_url", "https://3000-abc123.e2b.app/" + "a" * (2048 - 28)),
    ],
)
def test_values_at_the_edges_of_the_contract_are_accepted(field: str, value: str) -> None:
    request = parse_request({**PAYLOAD, field: value})
    assert getattr(request, field) == value


@pytest.mark.parametrize("field", ["job_id", "stage", "preview_url"])
def test_missing_field_is_rejected_naming_it(field: str) -> None:
    payload = {key: value for key, value in PAYLOAD.items() if key != field}
    assert reason_for(payload) == f"invalid_request:{field}"


@pytest.mark.parametrize("field", ["job_id", "stage", "preview_url"])
@pytest.mark.parametrize("value", [None, 7, 1.5, True, ["x"], {"x": 1}, b"ready"])
def test_wrong_typed_field_is_rejected_naming_it(field: str, value: object) -> None:
    assert reason_for({**PAYLOAD, field: value}) == f"invalid_request:{field}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("job_id", ""),
        ("job_id", "a/b"),
        ("job_id", "../etc"),
        ("job_id", "a..b"),
        ("job_id", "a" * 129),
        ("job_id", "-leading-dash"),
        ("job_id", "job id"),
        ("job_id", "job\n"),
        ("stage", ""),
        ("stage", "Ready"),
        ("stage", "READY"),
        ("stage", "a" * 33),
        ("stage", "1ready"),
        ("stage", "ready\n"),
    ],
)
def test_invalid_value_is_rejected_naming_its_field(field: str, value: str) -> None:
    assert reason_for({**PAYLOAD, field: value}) == f"invalid_request:{field}"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "invalid_url"),
        ("3000-abc123.e2b.app", "invalid_url"),
        ("//3000-abc123.e2b.app", "invalid_url"),
        ("https://", "invalid_url"),
        ("http://[::1", "invalid_url"),
        ("ftp://3000-abc123.e2b.app", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("https://user@3000-abc123.e2b.app", "userinfo"),
        ("https://user:secret@3000-abc123.e2b.app", "userinfo"),
        ("https://:secret@3000-abc123.e2b.app", "userinfo"),
        ("https://3000-abc123.e2b.app/" + "a" * (2049 - 28), "too_long"),
    ],
)
def test_invalid_url_is_rejected_with_the_url_policy_reason(url: str, why: str) -> None:
    assert reason_for({**PAYLOAD, "preview_url": url}) == f"url_blocked:{why}"
    assert reason_for(envelope({**PAYLOAD, "preview_url": url})) == f"url_blocked:{why}"


@pytest.mark.parametrize(
    "url",
    ["http:example.com/", "https:/example.com/", "http:\\\\foo.com\\", "https://fa\u00df.example/"],
)
def test_url_the_standard_accepts_is_accepted(url: str) -> None:
    assert parse_request({**PAYLOAD, "preview_url": url}).preview_url == url


def test_invalid_detail_field_is_rejected_naming_the_field_not_the_envelope() -> None:
    assert reason_for(envelope({**PAYLOAD, "job_id": "a/b"})) == "invalid_request:job_id"


@pytest.mark.parametrize(
    "event",
    [[PAYLOAD], None, "ready", 7, 1.5, True, b"{}", (PAYLOAD,)],
    ids=["array", "null", "string", "int", "float", "bool", "bytes", "tuple"],
)
def test_event_that_is_not_an_object_is_rejected(event: object) -> None:
    assert reason_for(event) == "invalid_request:event"


@pytest.mark.parametrize(
    "event",
    [
        {"Records": [{"messageId": "1", "body": json.dumps(PAYLOAD), "eventSource": "aws:sqs"}]},
        {"body": json.dumps(PAYLOAD), "requestContext": {"stage": "prod"}, "httpMethod": "POST"},
        {"version": "2.0", "body": json.dumps(PAYLOAD), "requestContext": {"http": {}}},
        {**PAYLOAD, "Records": []},
    ],
    ids=["sqs", "api-gateway-v1", "function-url", "payload-with-records"],
)
def test_unknown_envelope_is_rejected(event: dict[str, Any]) -> None:
    assert reason_for(event) == "invalid_request:envelope"


@pytest.mark.parametrize("detail_type", ["Build Started", "build stage completed", None, 1])
def test_eventbridge_event_of_another_detail_type_is_rejected(detail_type: object) -> None:
    assert reason_for(envelope(PAYLOAD, **{"detail-type": detail_type})) == (
        "invalid_request:detail-type"
    )


def test_detail_without_a_detail_type_is_rejected() -> None:
    assert reason_for({"detail": PAYLOAD}) == "invalid_request:detail-type"


@pytest.mark.parametrize("detail", [None, "payload", [PAYLOAD]], ids=["null", "string", "array"])
def test_eventbridge_envelope_without_an_object_detail_names_the_detail(detail: object) -> None:
    assert reason_for(envelope(detail)) == "invalid_request:detail"


def test_eventbridge_envelope_missing_its_detail_names_the_detail() -> None:
    event = envelope(PAYLOAD)
    del event["detail"]
    assert reason_for(event) == "invalid_request:detail"


@pytest.mark.parametrize("field", ["version", "id", "account", "time", "region", "resources"])
def test_eventbridge_envelope_missing_a_field_the_service_never_reads_is_accepted(
    field: str,
) -> None:
    event = envelope(PAYLOAD)
    del event[field]
    assert parse_request(event) == CaptureRequest(**PAYLOAD)


def test_envelope_shaped_as_sam_local_generate_event_writes_it_is_accepted() -> None:
    event = json.loads((EVENTS / "eventbridge_sam.json").read_text())
    assert "version" not in event
    assert parse_request(event).job_id == event["detail"]["job_id"]


@pytest.mark.parametrize("source", [None, 7, ["build"]])
def test_eventbridge_envelope_without_a_string_source_is_rejected(source: object) -> None:
    event = envelope(PAYLOAD, source=source)
    if source is None:
        del event["source"]
    assert reason_for(event) == "invalid_request:source"


# Fuzzing: whatever arrives, the only exception is InvalidRequestError, and what is accepted
# satisfies the contract.

KNOWN_REASONS = {
    f"url_blocked:{why}"
    for why in ("invalid_url", "scheme", "userinfo", "too_long", "invalid_host")
} | {
    f"invalid_request:{field}"
    for field in (
        "event",
        "envelope",
        "detail-type",
        "detail",
        "job_id",
        "stage",
        "preview_url",
        "version",
        "id",
        "source",
        "account",
        "time",
        "region",
        "resources",
    )
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
urls = st.builds(
    "{}://{}{}{}".format,
    st.sampled_from(["http", "https", "HTTPS", "ftp", "javascript", ""]),
    st.sampled_from(["", "", "", "user@", "u:p@", ":p@", "@"]),
    st.sampled_from(["3000-abc.e2b.app", "127.0.0.1:3000", "[::1]", "", " ", "[::1"]),
    st.text(max_size=30) | st.just("/" + "a" * 2030),
)
# Each field: about half the time a value the contract allows, otherwise a near miss or anything.
job_ids = st.from_regex(JOB_ID, fullmatch=True) | st.one_of(
    st.from_regex(r"[a-zA-Z0-9_-]{0,140}[/. \n]?[a-z]{0,3}", fullmatch=True), json_values
)
stages = st.from_regex(STAGE, fullmatch=True) | st.one_of(
    st.from_regex(r"[a-zA-Z0-9_-]{0,40}\n?", fullmatch=True), json_values
)
preview_urls = urls | json_values
requests = st.fixed_dictionaries(
    {"job_id": job_ids, "stage": stages, "preview_url": preview_urls},
    optional={"Records": json_values, "body": json_values, "extra": json_values},
)
events = (
    json_values
    | requests
    | requests.map(envelope)
    | st.builds(envelope, json_values, **{"detail-type": json_values})
)


def assert_meets_the_contract(request: CaptureRequest) -> None:
    assert JOB_ID.fullmatch(request.job_id)
    assert STAGE.fullmatch(request.stage)
    assert len(request.preview_url) <= 2048
    assert parse_url(request.preview_url).scheme in ("http", "https")


@settings(max_examples=200, deadline=None)
@given(events)
def test_parsing_any_event_either_meets_the_contract_or_is_rejected_with_a_field(
    event: object,
) -> None:
    request: CaptureRequest | InvalidRequestError
    try:
        request = parse_request(event)
    except InvalidRequestError as exc:
        request = exc
    if isinstance(request, InvalidRequestError):
        assert request.reason in KNOWN_REASONS
    else:
        assert_meets_the_contract(request)


# The result contract.


def test_captured_result_serialises_to_the_contract_shape() -> None:
    result = CaptureResult(
        job_id="job-1",
        stage="ready",
        status="captured",
        snapshot_url="https://d123.cloudfront.net/screenshots/job-1/ready-0123456789abcdef.png",
        attempts=1,
        duration_ms=812,
        image=ImageInfo(
            key="screenshots/job-1/ready-0123456789abcdef.png",
            sha256="0123456789abcdef" * 4,
            bytes=28909,
            width=1280,
            height=800,
        ),
        judgement=Judgement(
            size_bytes=28909,
            uniform_fraction=0.41,
            max_stddev=35.2,
            blank=False,
            failed_check=None,
            width=1280,
            height=800,
        ),
        page=PageInfo(http_status=200, final_url="https://3000-abc.e2b.app/", title="App"),
        dom=DomEvidence(text_length=900, visible_elements=80, images_loaded=2, images_total=2),
        timings_ms={"navigation": 300},
    )
    as_dict = result.as_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert {key: as_dict[key] for key in ("job_id", "stage", "status", "reason", "attempts")} == {
        "job_id": "job-1",
        "stage": "ready",
        "status": "captured",
        "reason": None,
        "attempts": 1,
    }
    assert as_dict["snapshot_url"] == result.snapshot_url
    assert as_dict["image"] == {
        "key": "screenshots/job-1/ready-0123456789abcdef.png",
        "sha256": "0123456789abcdef" * 4,
        "bytes": 28909,
        "width": 1280,
        "height": 800,
    }
    assert {
        key: as_dict["judgement"][key]
        for key in ("size_bytes", "uniform_fraction", "max_stddev", "blank", "failed_check")
    } == {
        "size_bytes": 28909,
        "uniform_fraction": 0.41,
        "max_stddev": 35.2,
        "blank": False,
        "failed_check": None,
    }
    assert as_dict["page"] == {
        "http_status": 200,
        "final_url": "https://3000-abc.e2b.app/",
        "title": "App",
        "settled": True,
        "waiting_for": [],
        "app_error": None,
        "errors": [],
    }
    assert as_dict["timings_ms"] == {"navigation": 300}


def test_rejected_result_has_no_url_and_no_evidence() -> None:
    as_dict = CaptureResult(
        job_id=None, stage=None, status="rejected", reason="invalid_request:job_id"
    ).as_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["status"] == "rejected"
    assert as_dict["reason"] == "invalid_request:job_id"
    assert (as_dict["snapshot_url"], as_dict["image"], as_dict["judgement"], as_dict["page"]) == (
        None,
        None,
        None,
        None,
    )
