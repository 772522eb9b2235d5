"""A local HTTP server for tests: pages on 127.0.0.1, each route a small function."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Responder = Callable[["Handler"], None]

RICH_PAGE = b"""<!doctype html><html><head><title>Sample app</title><style>
body{font-family:sans-serif;margin:40px;background:#f4f6fb}h1{color:#234}
.card{background:#fff;border-radius:8px;padding:20px;margin:10px;box-shadow:0 2px 6px #0002;
display:inline-block;width:300px}</style></head><body><h1>Todo dashboard</h1>
<p>Welcome back. Here is what is going on with your projects today.</p>
<div class="card"><h2>Inbox</h2><p>12 new tasks, 3 overdue</p></div>
<div class="card"><h2>Team</h2><p>5 members online</p></div>
<div class="card" style="background:#ffd"><h2>Stats</h2><p>Velocity 42 pts</p></div>
<ul><li>Write the release notes</li><li>Review pull requests</li><li>Plan the sprint</li></ul>
</body></html>"""
WHITE_PAGE = b"<!doctype html><html><head><title>blank</title></head><body></body></html>"


class Handler(BaseHTTPRequestHandler):
    server: PageServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.hits[path] += 1
        responder = self.server.routes.get(path)
        if responder is None:
            self.send_error(404)
            return
        responder(self)

    def reply(self, body: bytes, *, status: int = 200, content_type: str = "text/html") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return  # quiet test output


class PageServer(ThreadingHTTPServer):
    """Serves ``routes`` on 127.0.0.1 (``port``, else any free one); ``hits`` counts requests per
    path; ``stop`` frees hangers."""

    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.routes: dict[str, Responder] = {}
        self.hits: Counter[str] = Counter()
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def page(
        self, path: str, body: bytes, *, status: int = 200, content_type: str = "text/html"
    ) -> str:
        self.routes[path] = lambda h: h.reply(body, status=status, content_type=content_type)
        return self.url(path)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


def hang_until_stopped(handler: Handler) -> None:
    """Accept the connection and never answer (until the server stops)."""
    handler.server.stopping.wait(120)


def blank_until(seconds: float, body: bytes) -> Responder:
    """A dev server still compiling: blank until ``seconds`` after its first request."""
    first: list[float] = []

    def respond(handler: Handler) -> None:
        first.append(time.monotonic())
        ready = time.monotonic() - first[0] >= seconds
        handler.reply(body if ready else WHITE_PAGE)

    return respond


def fail_first(times: int, status: int, body: bytes) -> Responder:
    """Answer ``status`` for the first ``times`` requests, then ``body``."""
    calls = Counter[str]()

    def respond(handler: Handler) -> None:
        calls["n"] += 1
        if calls["n"] <= times:
            handler.reply(b"<h1>bad gateway</h1>", status=status)
        else:
            handler.reply(body)

    return respond
