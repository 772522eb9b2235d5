"""What the emulated AWS holds after invocations: the proof that no accepted screenshot is lost."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from lambda_fn.local.emulator import LocalAws


def assert_nothing_lost(aws: LocalAws, results: list[dict[str, Any]]) -> None:
    """Every captured result's object is stored with its SHA-256; nothing else is stored but
    the thumbnail and record beside each, and the evidence PNG a discarded result names."""
    s3 = aws.client("s3")
    captured = [result for result in results if result["status"] == "captured"]
    for result in captured:
        key = result["image"]["key"]
        body = s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == result["image"]["sha256"]
        head = s3.head_object(Bucket=aws.bucket, Key=key, ChecksumMode="ENABLED")
        assert base64.b64decode(head["ChecksumSHA256"]) == hashlib.sha256(body).digest()
        assert result["snapshot_url"] == f"https://{aws.cdn_domain}/{key}"
    stems = {result["image"]["key"].removesuffix(".png") for result in captured}
    expected = {f"{stem}.{suffix}" for stem in stems for suffix in STORED_SUFFIXES}
    for result in results:
        if result["status"] != "captured":
            assert (result["snapshot_url"], result["image"]) == (None, None)
        if result.get("evidence_key"):  # a discarded stage's last PNG, kept for tuning
            assert result["status"] == "discarded", result
            assert result["evidence_key"].startswith(f"discarded/{result['job_id']}/")
            expected.add(result["evidence_key"])
    assert stored_keys(aws) == expected


STORED_SUFFIXES = ("png", "webp", "json")


def stored_keys(aws: LocalAws) -> set[str]:
    paginator = aws.client("s3").get_paginator("list_objects_v2")
    return {
        item["Key"]
        for page in paginator.paginate(Bucket=aws.bucket)
        for item in page.get("Contents", [])
    }


def published(aws: LocalAws) -> list[dict[str, Any]]:
    """The details of the result events that reached the bus (drained)."""
    return [event["detail"] for event in aws.received_results()]
