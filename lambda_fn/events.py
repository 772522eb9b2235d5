"""Request and result contracts (DESIGN.md): parsing never raises, results serialise as dicts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from lambda_fn.config import STAGE_PATTERN
from lambda_fn.errors import InvalidRequestError, UrlBlockedError
from lambda_fn.network.guard import parse_url
from lambda_fn.pictures.blank import DomEvidence, Judgement

STAGE_COMPLETED = "Build Stage Completed"

URL_BLOCKED = "url_blocked"

Status = Literal["captured", "discarded", "failed", "skipped", "rejected"]


class CaptureRequest(BaseModel):
    """One stage of one build whose preview should be captured."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    job_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
    stage: str = Field(pattern=STAGE_PATTERN)
    preview_url: str

    @field_validator("preview_url")
    @classmethod
    def _url_the_policy_can_read(cls, value: str) -> str:
        """Read by the URL policy's parser, so a refusal carries its ``url_blocked:<why>``."""
        try:
            parse_url(value)
        except UrlBlockedError as exc:
            raise PydanticCustomError(URL_BLOCKED, str(exc), {"why": exc.why}) from exc
        return value


class StageCompletedEvent(BaseModel):
    """An EventBridge event whose ``detail`` is a capture request.

    Only what the service reads is required: ``sam local generate-event`` writes no ``version``,
    and other tools leave out more; none of those fields changes what is captured.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    detail_type: str = Field(alias="detail-type")
    source: str
    detail: CaptureRequest


def parse_request(event: object) -> CaptureRequest:
    """A direct-invoke payload or an EventBridge envelope → request; else ``InvalidRequestError``.

    Never navigates and never raises anything else, whatever the event holds.
    """
    if not isinstance(event, dict):
        raise InvalidRequestError("event is not an object", reason="invalid_request:event")
    try:
        if "detail-type" in event or "detail" in event:
            return _parse_envelope(event)
        if _looks_like_other_envelope(event):
            raise InvalidRequestError("unknown envelope", reason="invalid_request:envelope")
        return CaptureRequest.model_validate(event)
    except ValidationError as exc:
        raise InvalidRequestError(str(exc), reason=_reason_of(exc)) from exc


def _parse_envelope(event: dict[str, Any]) -> CaptureRequest:
    if event.get("detail-type") != STAGE_COMPLETED:
        raise InvalidRequestError("unexpected detail-type", reason="invalid_request:detail-type")
    return StageCompletedEvent.model_validate(event).detail


def _looks_like_other_envelope(event: dict[str, Any]) -> bool:
    # SQS, SNS, S3, Kinesis... deliver a list of records; API Gateway and URLs carry a body.
    return any(key in event for key in ("Records", "records", "body", "requestContext"))


def _reason_of(exc: ValidationError) -> str:
    error = exc.errors()[0]
    if error["type"] == URL_BLOCKED:
        return f"{URL_BLOCKED}:{error['ctx']['why']}"
    return f"invalid_request:{_field_of(error['loc'])}"


def _field_of(loc: tuple[int | str, ...]) -> str:
    if len(loc) > 1 and loc[0] == "detail":
        loc = loc[1:]  # a field inside the envelope's detail is named as in a direct request
    return str(loc[0]) if loc else "event"


@dataclass(frozen=True, slots=True)
class AppError:
    """An error screen instead of the app: what kind, which framework showed it, its text."""

    kind: Literal["build", "runtime"]
    source: str
    text: str


@dataclass(frozen=True, slots=True)
class PageInfo:
    http_status: int | None
    final_url: str
    title: str
    settled: bool = True  # readiness saw nothing pending before its deadline
    # What was still pending when it did not:
    waiting_for: list[str] = field(default_factory=list)
    app_error: AppError | None = None
    errors: list[str] = field(
        default_factory=list
    )  # uncaught exceptions and console errors, bounded


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt of a stage, as ``attempt_log`` lists it."""

    reason: str | None
    duration_ms: int
    timings_ms: dict[str, int]


@dataclass(frozen=True, slots=True)
class ImageInfo:
    key: str
    sha256: str
    bytes: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class CaptureResult:
    """The outcome of one stage, as returned and published (DESIGN.md, result contract)."""

    job_id: str | None
    stage: str | None
    status: Status
    reason: str | None = None
    snapshot_url: str | None = None
    attempts: int = 0
    duration_ms: int = 0
    image: ImageInfo | None = None
    judgement: Judgement | None = None
    page: PageInfo | None = None
    dom: DomEvidence | None = None
    blocked_requests: int = 0
    timings_ms: dict[str, int] = field(default_factory=dict)
    attempt_log: list[AttemptRecord] = field(default_factory=list)
    diff: dict[str, Any] | None = None  # against the job's previous captured stage (timeline.py)
    diff_reason: str | None = None
    thumbnail_url: str | None = None
    record_url: str | None = None
    evidence_key: str | None = None  # the stage's last discarded PNG, kept for tuning (not served)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
