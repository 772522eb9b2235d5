"""Settings read once from the environment (DESIGN.md, configuration table) and validated."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lambda_fn import patterns
from lambda_fn.errors import ConfigError

STAGE_PATTERN = patterns.anchored(patterns.STAGE)
# Names AWS would refuse fail at cold start, not at the first upload or write.
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
TABLE_PATTERN = r"^[A-Za-z0-9_.-]{3,255}$"
BUS_PATTERN = r"^(arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/)?[A-Za-z0-9/._-]{1,256}$"
HOST_GLOB_PATTERN = patterns.anchored(patterns.HOST_GLOB)


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class Settings(BaseModel):
    """Every knob of the function, named by its environment variable."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    screenshot_enabled: bool = Field(True, alias="SCREENSHOT_ENABLED")
    screenshots_bucket: str | None = Field(None, alias="SCREENSHOTS_BUCKET", pattern=BUCKET_PATTERN)
    screenshots_cdn_domain: str | None = Field(
        None, alias="SCREENSHOTS_CDN_DOMAIN", pattern=r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$"
    )
    capture_stages: tuple[Annotated[str, Field(pattern=STAGE_PATTERN)], ...] = Field(
        ("checks", "ready"), alias="CAPTURE_STAGES"
    )
    state_table: str | None = Field(None, alias="STATE_TABLE", pattern=TABLE_PATTERN)
    result_bus: str | None = Field(None, alias="RESULT_BUS", pattern=BUS_PATTERN)
    attempt_budget_s: float = Field(
        15.0,
        alias="ATTEMPT_BUDGET_S",
        ge=patterns.MIN_ATTEMPT_BUDGET_S,
        le=patterns.MAX_ATTEMPT_BUDGET_S,
    )
    blank_min_bytes: int = Field(5120, alias="BLANK_MIN_BYTES", ge=0)
    blank_max_uniform_fraction: float = Field(0.95, alias="BLANK_MAX_UNIFORM_FRACTION", gt=0, le=1)
    blank_retry_delay_s: float = Field(2.0, alias="BLANK_RETRY_DELAY_S", ge=0, le=10)
    blank_policy: Literal["pixels", "content-aware"] = Field("pixels", alias="BLANK_POLICY")
    breaker_threshold: int = Field(3, alias="BREAKER_THRESHOLD", ge=1)
    allowed_url_hosts: tuple[Annotated[str, Field(pattern=HOST_GLOB_PATTERN)], ...] = Field(
        (), alias="ALLOWED_URL_HOSTS"
    )
    allow_private_urls: bool = Field(False, alias="ALLOW_PRIVATE_URLS")
    chromium_executable: str | None = Field(None, alias="CHROMIUM_EXECUTABLE", min_length=1)
    # Lambda sets AWS_REGION (and AWS_DEFAULT_REGION, the one boto3 reads); a `docker run` or a
    # local invoke may give only the first, so the clients take it from here.
    aws_region: str | None = Field(None, alias="AWS_REGION", pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")

    _split = field_validator("capture_stages", "allowed_url_hosts", mode="before")(_split_csv)

    @field_validator(
        "screenshots_bucket",
        "screenshots_cdn_domain",
        "state_table",
        "result_bus",
        "chromium_executable",
        "aws_region",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Validate the variables this service knows; a bad one raises ``ConfigError`` naming it."""
        known = {field.alias for field in cls.model_fields.values()}
        try:
            return cls.model_validate({k: v for k, v in environ.items() if k in known})
        except ValidationError as exc:
            first = exc.errors()[0]
            variable = first["loc"][0] if first["loc"] else "configuration"
            raise ConfigError(f"invalid {variable}: {first['msg']}") from exc

    def require_storage(self) -> None:
        """Capturing for the pipeline needs somewhere to put PNGs and a URL to report."""
        for variable, value in (
            ("SCREENSHOTS_BUCKET", self.screenshots_bucket),
            ("SCREENSHOTS_CDN_DOMAIN", self.screenshots_cdn_domain),
        ):
            if value is None:
                raise ConfigError(f"{variable} is required when SCREENSHOT_ENABLED is true")
