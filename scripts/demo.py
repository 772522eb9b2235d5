"""``make demo``: serve the bundled sample app on loopback, then run the real handler on a
``Build Stage Completed`` event for it, against the local AWS emulator. Prints the result and the
path of the stored PNG."""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lambda_fn.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "demo" / "app"
OUT = ROOT / "out"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


def run_demo() -> int:
    OUT.mkdir(exist_ok=True)
    handler = functools.partial(QuietHandler, directory=str(APP))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        event = json.loads((ROOT / "events" / "eventbridge.json").read_text())
        event["detail"]["preview_url"] = f"http://127.0.0.1:{server.server_address[1]}/"
        event_path = OUT / "demo-event.json"
        event_path.write_text(json.dumps(event, indent=2))
        # The sample app is on loopback, which the URL policy refuses in production.
        os.environ["ALLOW_PRIVATE_URLS"] = "true"
        status = main(["invoke", str(event_path), "--emulate-aws", "-o", str(OUT / "demo.png")])
    finally:
        server.shutdown()
        server.server_close()
    print(f"\nPNG: {OUT / 'demo.png'}" if status == 0 else "\nno PNG was stored", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(run_demo())
