"""One execution environment for the soak tests: a fresh interpreter that cold-starts the real
handler, serves a list of events, and reports its results and its own footprint.

``python -m tests.soak.environment EVENTS.json [SAMPLE_EVERY]``: one ``RESULT <json>`` line per
event and, every ``SAMPLE_EVERY`` invocations, a ``SAMPLE <json>`` line (children, open fds, bytes
and entries in the temp dir, RSS of this process and of its children) on stdout.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil


def footprint(invocations: int) -> dict[str, int]:
    me = psutil.Process()
    children = me.children(recursive=True)
    files = list(Path(tempfile.gettempdir()).rglob("*"))
    return {
        "invocations": invocations,
        "children": len(children),
        "fds": me.num_fds(),
        "tmp_bytes": sum(path.stat().st_size for path in files if path.is_file()),
        "tmp_entries": len(files),
        "rss": me.memory_info().rss,
        "children_rss": sum(_rss(child) for child in children),
    }


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.Error:
        return 0  # gone meanwhile


def main(argv: list[str]) -> int:
    events: list[Any] = json.loads(Path(argv[1]).read_text())
    sample_every = int(argv[2]) if len(argv) > 2 else 0
    from lambda_fn.handler import SERVICE, handler  # the cold start
    from lambda_fn.local.context import LocalContext

    try:
        for count, event in enumerate(events, start=1):
            result = handler(event, LocalContext())
            print("RESULT " + json.dumps(result), flush=True)
            if sample_every and count % sample_every == 0:
                print("SAMPLE " + json.dumps(footprint(count)), flush=True)
    finally:
        SERVICE.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
