"""Lambda entry point: wiring only. Settings, clients and the Playwright driver are created once
per execution environment, during init; a bad configuration fails here, naming the variable."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambda_fn.config import Settings
from lambda_fn.observability import logger, metrics
from lambda_fn.service import Service

SERVICE = Service.start(Settings.from_env(os.environ))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return SERVICE.handle(event, context)
