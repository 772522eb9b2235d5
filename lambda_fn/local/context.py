"""The Lambda context for runs outside Lambda: the local invoke and the tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class LocalContext:
    function_name: str = "preview-screenshots"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:preview-screenshots"
    aws_request_id: str = "8f5d1c2e-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/preview-screenshots"
    log_stream_name: str = "2026/11/22/[$LATEST]0123456789abcdef"
    timeout_s: float = 60.0
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return int((self.timeout_s - (time.monotonic() - self.started)) * 1000)
