"""The "remote" side of the benchmark, in its own process: the page server and the local AWS
emulator. Out of the measured process, their CPU and memory (moto keeps every stored PNG) are not
charged to the function, as the real preview server and S3 would not be.

    python -m benchlib.remote   # prints one JSON line {"base_url", "aws_env"}; stops at stdin EOF
"""

from __future__ import annotations

import json
import sys

from benchlib.site import build_routes, serve_routes
from lambda_fn.local.emulator import local_aws


def main() -> None:
    with serve_routes(build_routes()) as base_url, local_aws() as aws:
        print(json.dumps({"base_url": base_url, "aws_env": aws.environment()}), flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin


if __name__ == "__main__":
    main()
