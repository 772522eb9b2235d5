"""At most one capture per (job_id, stage), across deliveries and execution environments.

EventBridge and async invokes may deliver an event twice. Powertools idempotency on the state
table keys each stage; a repeat returns the first result. A concurrent duplicate (the first still
running) becomes ``skipped``/``duplicate``. If the table cannot be used, the capture still runs
once: a stage's screenshot matters more than deduplication.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_fn.events import CaptureRequest, CaptureResult
from lambda_fn.observability import logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Work = Callable[[CaptureRequest], dict[str, Any]]
EXPIRES_AFTER_S = 24 * 3600  # redeliveries arrive within minutes; a day is ample


class OncePerStage:
    def __init__(self, client: DynamoDBClient, *, table: str) -> None:
        self.config = IdempotencyConfig(
            event_key_jmespath="[job_id, stage]", expires_after_seconds=EXPIRES_AFTER_S
        )
        self.store = DynamoDBPersistenceLayer(table_name=table, boto3_client=client)

    def run(self, work: Work, request: CaptureRequest, context: LambdaContext) -> dict[str, Any]:
        """``work(request)`` unless this stage already ran; then the first run's result."""
        self.config.register_lambda_context(context)
        done: list[dict[str, Any]] = []

        def once(request: CaptureRequest) -> dict[str, Any]:
            done.append(work(request))
            return done[0]

        guarded = idempotent_function(
            once, data_keyword_argument="request", persistence_store=self.store, config=self.config
        )
        try:
            return dict(guarded(request=request))
        except IdempotencyAlreadyInProgressError:
            return CaptureResult(
                job_id=request.job_id, stage=request.stage, status="skipped", reason="duplicate"
            ).as_dict()
        except IdempotencyPersistenceLayerError as exc:
            logger.warning("idempotency store unavailable", extra={"error": str(exc)[:500]})
            metrics.add_metric(name="IdempotencyUnavailable", unit="Count", value=1)
            return done[0] if done else work(request)
