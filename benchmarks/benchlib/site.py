"""The benchmark's fixed pages, their generated assets, and what each capture must show.

Pages live in ``benchmarks/pages``; the heavy assets are generated at start (deterministically):
photo-like JPEGs, a ~300 KB script bundle, and web fonts copied from the system's TrueType fonts.
A few responses get a fixed delay, standing in for a CDN (fonts) or an API (the client's data).
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image

PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"
IMAGE_COUNT = 24
IMAGE_SIZE = (816, 510)  # twice the displayed size, as sites often serve
FONT_DELAY_S = 0.08
DATA_DELAY_S = 0.10
VENDOR_FUNCTIONS = 6000
# fonts-liberation is in packaging/apt-packages.txt (installed by `make setup`); DejaVu if not.
FONT_CANDIDATES = {
    "sans.ttf": ("liberation/LiberationSans-Regular.ttf", "dejavu/DejaVuSans.ttf"),
    "sans-bold.ttf": ("liberation/LiberationSans-Bold.ttf", "dejavu/DejaVuSans-Bold.ttf"),
    "serif.ttf": ("liberation/LiberationSerif-Regular.ttf", "dejavu/DejaVuSerif.ttf"),
}
FONT_ROOT = Path("/usr/share/fonts/truetype")

Colour = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Probe:
    """In ``box`` (left, top, right, bottom), the share of pixels within ``tolerance`` of
    ``colour`` must be at least ``at_least`` (or at most ``at_most``)."""

    box: tuple[int, int, int, int]
    colour: Colour
    tolerance: int
    at_least: float | None = None
    at_most: float | None = None

    def passes(self, pixels: np.ndarray) -> bool:
        left, top, right, bottom = self.box
        region = pixels[top:bottom, left:right].astype(np.int16)
        close = np.all(np.abs(region - np.array(self.colour)) <= self.tolerance, axis=-1)
        share = float(close.mean())
        if self.at_least is not None and share < self.at_least:
            return False
        return not (self.at_most is not None and share > self.at_most)


@dataclass(frozen=True, slots=True)
class Page:
    name: str
    path: str
    blank: bool  # the service must discard it
    probes: tuple[Probe, ...]  # what a complete capture shows

    def is_complete(self, png: bytes) -> bool:
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        return all(probe.passes(pixels) for probe in self.probes)


WHITE = (255, 255, 255)
PAGES = (
    Page("static", "/static.html", False, (Probe((700, 8, 1270, 56), (31, 41, 55), 6, 0.95),)),
    Page(
        "images",
        "/images.html",
        False,
        (  # the first photo and one in the third row are painted, not white
            Probe((40, 90, 400, 280), WHITE, 10, at_most=0.05),
            Probe((880, 620, 1240, 790), WHITE, 10, at_most=0.05),
        ),
    ),
    Page("client", "/client.html", False, (Probe((600, 8, 1270, 64), (37, 99, 235), 6, 0.95),)),
    Page("fonts", "/fonts.html", False, (Probe((48, 40, 1230, 200), (17, 24, 39), 40, 0.03),)),
    Page("blank", "/blank.html", True, (Probe((0, 0, 1280, 800), WHITE, 2, 0.99),)),
)
CONTENT_PAGES = tuple(page for page in PAGES if not page.blank)


def photo(index: int) -> bytes:
    """A photo-like JPEG: smooth colour fields plus grain, different for every index."""
    rng = np.random.default_rng(index)
    width, height = IMAGE_SIZE
    coarse = Image.fromarray(rng.integers(30, 226, (6, 10, 3), dtype=np.uint8), "RGB")
    smooth = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC), np.int16)
    grainy = smooth + rng.normal(0, 10, smooth.shape).astype(np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(grainy, 0, 255).astype(np.uint8), "RGB").save(
        buffer, "JPEG", quality=85
    )
    return buffer.getvalue()


def vendor_bundle() -> bytes:
    """A script of many small functions: parse and compile work like a framework bundle's."""
    functions = "".join(
        f"m.f{i}=function(x){{return (x*{i % 97 + 3}+{i})%1000003;}};\n"
        for i in range(VENDOR_FUNCTIONS)
    )
    return (
        "window.vendor=(()=>{const m={};\n" + functions + "return {checksum(n){let s=0;"
        "for(const k in m){s=(s+m[k](n))|0;}return s;}};})();\n"
    ).encode()


def project_data() -> bytes:
    projects = [
        {"name": f"Project {n + 1}", "tasks": (n * 7) % 23 + 1, "updated": f"{n % 12 + 1} h ago"}
        for n in range(16)
    ]
    return json.dumps(projects).encode()


def find_font(candidates: tuple[str, ...]) -> bytes:
    for candidate in candidates:
        path = FONT_ROOT / candidate
        if path.is_file():
            return path.read_bytes()
    raise FileNotFoundError(f"no TrueType font for the fonts page; tried {candidates}")


Route = tuple[str, bytes, float]  # content type, body, delay before answering
# The "next stage" of each content page (``/<page>-changed.html``): this block at the top of it,
# which pushes the rest of the page down.
STAGE_BLOCK = "<div style='width:500px;height:180px;background:#2a7'>New stage</div>"


def changed_path(page: Page) -> str:
    return page.path.replace(".html", "-changed.html")


def with_block(html: bytes) -> bytes:
    head, tag, rest = html.decode().partition("<body")
    attributes, close, content = rest.partition(">")
    return (head + tag + attributes + close + STAGE_BLOCK + content).encode()


def build_routes() -> dict[str, Route]:
    routes: dict[str, Route] = {
        f"/{path.name}": ("text/html; charset=utf-8", path.read_bytes(), 0.0)
        for path in PAGES_DIR.glob("*.html")
    }
    routes["/client/app.js"] = (
        "text/javascript",
        (PAGES_DIR / "client-app.js").read_bytes(),
        0.0,
    )
    routes["/client/vendor.js"] = ("text/javascript", vendor_bundle(), 0.0)
    routes["/client/data.json"] = ("application/json", project_data(), DATA_DELAY_S)
    for index in range(IMAGE_COUNT):
        routes[f"/images/photo-{index}.jpg"] = ("image/jpeg", photo(index), 0.0)
    for name, candidates in FONT_CANDIDATES.items():
        routes[f"/fonts/{name}"] = ("font/ttf", find_font(candidates), FONT_DELAY_S)
    for page in CONTENT_PAGES:
        content_type, body, delay = routes[page.path]
        routes[changed_path(page)] = (content_type, with_block(body), delay)
    return routes


def make_handler(routes: dict[str, Route]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a dev server
        # Headers and body go out in separate writes: with Nagle's algorithm on, a keep-alive
        # response would wait for the client's delayed ACK (~40 ms).
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                self.send_error(404)
                return
            content_type, body, delay = route
            if delay:
                time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@contextmanager
def serve_routes(routes: dict[str, Route]) -> Iterator[str]:
    """Serve ``routes`` on 127.0.0.1; yields the base URL; stops the server on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(routes))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
