"""The stage timeline: each captured stage is compared with the job's previous captured stage,
and gets a thumbnail and a record stored beside its PNG.

``Timeline.recall`` runs in a thread from the start of the capture: it reads the job's last
captured key from the state table (``id = last#<job_id>``, the breaker's TTL), then that PNG, and
decodes it while the page loads. ``prepare`` runs in a thread from the moment the new PNG is
decoded for its judgement, while it is judged and uploaded and the browser closes: it diffs and
makes the thumbnail. Once the PNG is stored, ``keep`` stores the thumbnail and remembers the
capture, still while the browser closes; ``finish`` stores the record of the result. Nothing
here fails a capture: a missing, unreadable or incomparable previous screenshot, or an
unreachable table, leaves ``diff`` null with ``diff_reason`` saying why.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_fn.errors import StorageError
from lambda_fn.events import ImageInfo
from lambda_fn.observability import logger
from lambda_fn.pictures.diff import DiffError, Picture, Pixels, compare
from lambda_fn.pictures.thumbnail import thumbnail
from lambda_fn.state.breaker import TTL_S
from lambda_fn.state.record import record
from lambda_fn.state.storage import S3Store

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class StateUnavailable(Exception):
    pass


class LastCaptures:
    def __init__(self, client: DynamoDBClient, *, table: str) -> None:
        self.client = client
        self.table = table

    def get(self, job_id: str) -> tuple[str, str] | None:
        """The previous captured (key, stage) of ``job_id``, or ``None`` for its first capture."""
        try:
            item = self.client.get_item(
                TableName=self.table, Key=_key(job_id), ConsistentRead=True
            ).get("Item")
        except (BotoCoreError, ClientError) as exc:
            raise StateUnavailable(str(exc)) from exc
        if not item:
            return None
        return item["image_key"]["S"], item["stage"]["S"]

    def put(self, job_id: str, key: str, stage: str) -> None:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    **_key(job_id),
                    "image_key": {"S": key},
                    "stage": {"S": stage},
                    "expiration": {"N": str(int(time.time()) + TTL_S)},
                },
            )
        except (BotoCoreError, ClientError) as exc:
            logger.warning("last capture not recorded", extra={"error": str(exc)[:500]})


def _key(job_id: str) -> dict[str, dict[str, str]]:
    return {"id": {"S": f"last#{job_id}"}}


@dataclass(frozen=True, slots=True)
class Baseline:
    """The job's previous captured stage, decoded and ready to compare."""

    key: str
    stage: str
    picture: Picture


@dataclass(frozen=True, slots=True)
class Recalled:
    """What ``recall`` found: the previous capture, or why there is none to compare with."""

    baseline: Baseline | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class Draft:
    """What ``prepare`` worked out for one PNG: the diff (or why there is none), the thumbnail."""

    diff: dict[str, Any] | None
    reason: str | None
    thumbnail: bytes
    ms: int


@dataclass(frozen=True, slots=True)
class Kept:
    """A stored PNG's diff (or why there is none) and its thumbnail's address (``None`` when it
    could not be stored)."""

    diff: dict[str, Any] | None
    reason: str | None
    thumbnail_url: str | None
    ms: int


class Timeline:
    def __init__(self, store: S3Store, last: LastCaptures | None) -> None:
        self.store = store
        self.last = last

    def recall(self, job_id: str) -> Recalled:
        """The job's previous capture, read and decoded; never raises."""
        if self.last is None:
            return Recalled(None, "no_state_table")
        try:
            previous = self.last.get(job_id)
        except StateUnavailable:
            return Recalled(None, "state_unavailable")
        if previous is None:
            return Recalled(None, "first_capture")
        key, stage = previous
        try:
            picture = Picture.of(self.store.get(key), which="previous")
            return Recalled(Baseline(key, stage, picture), None)
        except StorageError:
            return Recalled(None, "previous_unreadable")
        except DiffError as exc:
            return Recalled(None, exc.reason)

    async def keep(self, draft: Draft, image: ImageInfo, job_id: str, stage: str) -> Kept:
        """Store ``draft``'s thumbnail beside the stored ``image`` and remember ``image`` as the
        job's last capture, both at once."""
        thumbnail_url, _ = await asyncio.gather(
            asyncio.to_thread(self._beside, image, "webp", draft.thumbnail),
            asyncio.to_thread(self._remember, draft, image, job_id, stage),
        )
        return Kept(draft.diff, draft.reason, thumbnail_url, draft.ms)

    async def finish(
        self, result: dict[str, Any], kept: Kept, *, browser: str | None
    ) -> dict[str, Any]:
        """``result`` of a stored capture with ``diff``, ``thumbnail_url`` and ``record_url``;
        the record is the result but for its own address."""
        image = ImageInfo(**result["image"])
        annotated = {
            **result,
            "diff": kept.diff,
            "diff_reason": kept.reason,
            "thumbnail_url": kept.thumbnail_url,
        }
        annotated["timings_ms"] = {**result["timings_ms"], "timeline": kept.ms}
        body = record(annotated, browser=browser)
        annotated["record_url"] = await asyncio.to_thread(self._beside, image, "json", body)
        return annotated

    def _remember(self, draft: Draft, image: ImageInfo, job_id: str, stage: str) -> None:
        if self.last is not None and draft.reason != "state_unavailable":
            self.last.put(job_id, image.key, stage)

    def _beside(self, image: ImageInfo, suffix: str, body: bytes) -> str | None:
        try:
            return self.store.put_beside(image, suffix, body)
        except StorageError as exc:
            logger.warning(
                "not stored beside the screenshot",
                extra={"suffix": suffix, "error": str(exc)[:500]},
            )
            return None


def prepare(recalled: Recalled, stage: str, png: bytes, pixels: Pixels) -> Draft:
    """Diff the job's ``stage`` PNG ``png`` (decoded: ``pixels``) against ``recalled`` and make
    its thumbnail; never raises."""
    started = time.perf_counter()
    diff, reason = _diff(recalled, stage, png, pixels)
    return Draft(diff, reason, thumbnail(pixels), _ms_since(started))


def _diff(
    recalled: Recalled, stage: str, png: bytes, pixels: Pixels
) -> tuple[dict[str, Any] | None, str | None]:
    baseline = recalled.baseline
    if baseline is None:
        return None, recalled.reason
    same_bytes = png == baseline.picture.png
    if same_bytes and stage == baseline.stage:  # the same content-addressed key: this capture
        return None, "same_capture"
    # Identical bytes are compared as bytes: no pixel work at all.
    current = png if same_bytes else Picture.of(png, pixels)
    try:
        comparison = compare(baseline.picture, current)
    except DiffError as exc:
        return None, exc.reason
    return {"against": baseline.key, "stage": baseline.stage, **asdict(comparison)}, None


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
