"""Lambda entry point: wiring only. Settings, clients and the Playwright driver are created once
per execution environment, during init; a bad configuration fails here, naming the variable."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from lambda_fn.driver import EarlyDriver

# Started before the other imports: the driver's Node process starts while Python imports the
# rest (as long again), and the two overlap in a cold start (driver.py).
DRIVER = EarlyDriver(asyncio.new_event_loop())

from aws_lambda_powertools.logging import correlation_paths  # noqa: E402
from aws_lambda_powertools.utilities.typing import LambdaContext  # noqa: E402

from lambda_fn.config import Settings  # noqa: E402
from lambda_fn.observability import logger, metrics  # noqa: E402
from lambda_fn.service import Service  # noqa: E402

try:
    SERVICE = Service.start(Settings.from_env(os.environ), driver=DRIVER)
except BaseException:
    DRIVER.stop()  # a bad configuration leaves no driver behind
    raise


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return SERVICE.handle(event, context)
