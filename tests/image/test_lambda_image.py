"""The built image, run as Lambda runs it and invoked through the Runtime API: what a person would
see in the stored PNGs, what the contract promises about storage, and what a warm environment
must not accumulate."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from lambda_fn.local.emulator import LocalAws
from lambda_fn.state.storage import CACHE_CONTROL
from tests.image import engine
from tests.pages import WHITE_PAGE, PageServer
from tests.pixels import colour_share
from tests.stored import assert_nothing_lost, stored_keys

# The first test waits for the image: a build from a cold layer cache takes minutes on two cores.
pytestmark = pytest.mark.timeout(2400)

# Solid blocks a loaded page paints, found again in the PNG by colour.
MARKER_PAGE = b"""<!doctype html><html><head><title>Orders</title><style>
body{margin:0;font:18px sans-serif;background:#f6f7fb}
header{background:#1e3a8a;color:#fff;padding:24px}
.grid{display:flex;gap:20px;padding:24px}.card{width:260px;height:140px;border-radius:10px}
</style></head><body><header><h1>Orders dashboard</h1></header><div class="grid">
<div class="card" style="background:#e11d48"></div>
<div class="card" style="background:#16a34a"></div>
<div class="card" style="background:#f59e0b"></div></div>
<p style="padding:0 24px">Twelve orders shipped today; three wait for payment.</p></body></html>"""
MARKERS = {"header": (0x1E, 0x3A, 0x8A), "rose": (0xE1, 0x1D, 0x48), "green": (0x16, 0xA3, 0x4A)}

# Large glyphs per script, each in its own tinted box: a missing font draws the same tofu boxes
# for all of them, so distinct, inked crops are the evidence that each script found its font.
GLYPHS = {"latin": "Ag", "zh": "漢字", "ja": "かな", "ko": "한글", "emoji": "🍉🚀"}
GLYPH_PAGE = (
    "<!doctype html><html><head><meta charset=utf-8><style>body{margin:0;background:#fff}"
    "div{position:absolute;width:240px;height:160px;font:96px sans-serif;line-height:160px;"
    "background:#eef}"
    "</style></head><body>"
    + "".join(
        f'<div lang="{name if name in {"zh", "ja", "ko"} else "en"}" style="left:{20 + 250 * i}px;'
        f'top:40px">{text}</div>'
        for i, (name, text) in enumerate(GLYPHS.items())
    )
    + "<p style='position:absolute;top:300px;left:20px;font:24px sans-serif'>"
    "Scripts rendered side by side for the font check.</p></body></html>"
).encode()

# A WebGL triangle on a cleared canvas: both colours exist only if WebGL drew.
WEBGL_PAGE = b"""<!doctype html><html><body style="margin:0;background:#fff">
<p style="font:20px sans-serif;margin:10px">WebGL check</p>
<canvas id=c width=600 height=400></canvas>
<script>const gl=document.getElementById('c').getContext('webgl');
const sh=(t,s)=>{const o=gl.createShader(t);gl.shaderSource(o,s);gl.compileShader(o);return o};
const vs='attribute vec2 a;void main(){gl_Position=vec4(a,0,1);}';
const fs='precision mediump float;void main(){gl_FragColor=vec4(1,0,.5,1);}';
const p=gl.createProgram();
gl.attachShader(p,sh(gl.VERTEX_SHADER,vs));gl.attachShader(p,sh(gl.FRAGMENT_SHADER,fs));
gl.linkProgram(p);gl.useProgram(p);gl.bindBuffer(gl.ARRAY_BUFFER,gl.createBuffer());
gl.bufferData(gl.ARRAY_BUFFER,new Float32Array([-.9,-.9,.9,-.9,0,.9]),gl.STATIC_DRAW);
gl.enableVertexAttribArray(0);gl.vertexAttribPointer(0,2,gl.FLOAT,false,0,0);
gl.clearColor(.1,.6,.2,1);gl.clear(gl.COLOR_BUFFER_BIT);gl.drawArrays(gl.TRIANGLES,0,3);</script>
</body></html>"""
WEBGL_COLOURS = {"triangle": (255, 0, 128), "clear": (26, 153, 51)}


def event(url: str, stage: str = "ready") -> dict[str, Any]:
    return {"job_id": str(uuid.uuid4()), "stage": stage, "preview_url": url}


def stored_pixels(aws: LocalAws, result: dict[str, Any]) -> NDArray[np.uint8]:
    body = aws.client("s3").get_object(Bucket=aws.bucket, Key=result["image"]["key"])["Body"]
    picture = Image.open(io.BytesIO(body.read()))
    assert picture.size == (1280, 800)
    return np.asarray(picture.convert("RGB"))


def captured_pixels(
    function: engine.LambdaContainer, aws: LocalAws, url: str
) -> tuple[dict[str, Any], NDArray[np.uint8]]:
    """Invoke the function on ``url``; the capture must be stored: its result and its pixels."""
    result = function.invoke(event(url))
    assert result["status"] == "captured", result
    return result, stored_pixels(aws, result)


def saturated_share(pixels: NDArray[np.uint8]) -> float:
    """The share of strongly coloured pixels (far from any grey)."""
    wide = pixels.astype(np.int16)
    return float(((wide.max(axis=2) - wide.min(axis=2)) > 100).mean())


def test_page_is_captured_and_stored_with_the_contract_headers(
    function: engine.LambdaContainer, aws: LocalAws, site: PageServer
) -> None:
    result, pixels = captured_pixels(function, aws, site.page("/orders", MARKER_PAGE))
    for name, rgb in MARKERS.items():
        assert colour_share(pixels, rgb) > 0.02, f"the {name} block is not in the PNG"
    head = aws.client("s3").head_object(Bucket=aws.bucket, Key=result["image"]["key"])
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == CACHE_CONTROL
    assert_nothing_lost(aws, [result])


def test_cjk_and_emoji_are_drawn_each_with_its_own_font(
    function: engine.LambdaContainer, aws: LocalAws, site: PageServer
) -> None:
    _, pixels = captured_pixels(function, aws, site.page("/glyphs", GLYPH_PAGE))
    crops = {name: pixels[40:200, 20 + 250 * i : 260 + 250 * i] for i, name in enumerate(GLYPHS)}
    for name, crop in crops.items():
        ink = (crop.astype(np.int16).sum(axis=2) < 600).mean()
        assert ink > 0.02, f"{name}: nothing drawn"
    names = list(crops)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            difference = np.abs(crops[first].astype(np.int16) - crops[second]).mean()
            assert difference > 5, f"{first} and {second} look alike (missing glyphs?)"
    assert saturated_share(crops["emoji"]) > 0.02, "the emoji are not in colour"
    for name in ("latin", "zh", "ja", "ko"):
        assert saturated_share(crops[name]) < 0.01, f"{name} in colour"


def test_webgl_draws_on_the_bundled_software_renderer(
    function: engine.LambdaContainer, aws: LocalAws, site: PageServer
) -> None:
    _, pixels = captured_pixels(function, aws, site.page("/webgl", WEBGL_PAGE))
    for name, rgb in WEBGL_COLOURS.items():
        assert colour_share(pixels, rgb, tolerance=10) > 0.03, f"WebGL drew no {name}"


def test_nothing_the_browser_links_is_missing(function: engine.LambdaContainer) -> None:
    linked = engine.docker(
        "exec",
        function.id,
        "sh",
        "-c",
        "ldd /usr/lib/chromium/chromium-headless-shell /usr/lib/chromium/*.so "
        "/opt/venv/lib/python3.11/site-packages/playwright/driver/node",
    )
    assert "not found" not in linked, linked


def test_blank_page_is_discarded_and_only_its_evidence_is_kept(
    function: engine.LambdaContainer, aws: LocalAws, site: PageServer
) -> None:
    before = stored_keys(aws)
    result = function.invoke(event(site.page("/white", WHITE_PAGE)))
    assert result["status"] == "discarded", result
    assert (result["snapshot_url"], result["image"]) == (None, None)
    evidence = result["evidence_key"]
    assert evidence.startswith(f"discarded/{result['job_id']}/ready-"), result
    assert stored_keys(aws) - before == {evidence}  # nothing under screenshots/
    body = aws.client("s3").get_object(Bucket=aws.bucket, Key=evidence)["Body"].read()
    pixels = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
    assert pixels.shape == (800, 1280, 3)
    assert (pixels == 255).all()  # the white page itself, kept for whoever tunes the policy


def test_invalid_event_is_rejected(function: engine.LambdaContainer, site: PageServer) -> None:
    result = function.invoke({"job_id": "", "stage": "ready", "preview_url": "ftp://x/"})
    assert result["status"] == "rejected", result
    assert result["reason"].startswith("invalid_request"), result


def test_loopback_is_refused_when_private_urls_are_not_allowed(
    image: str, lambda_env: dict[str, str], site: PageServer
) -> None:
    url = site.page("/private", MARKER_PAGE)
    with engine.lambda_container({**lambda_env, "ALLOW_PRIVATE_URLS": "false"}) as container:
        result = container.invoke(event(url))
    assert result["status"] == "rejected", result
    assert result["reason"].startswith("url_blocked"), result
    assert site.hits["/private"] == 0


def test_started_as_root_the_function_runs_as_the_image_user(
    image: str, lambda_env: dict[str, str], site: PageServer
) -> None:
    with engine.lambda_container(lambda_env, user=None) as container:
        result = container.invoke(event(site.page("/as-root", MARKER_PAGE)))
        processes = container.processes()
    assert result["status"] == "captured", result
    function_processes = [p for p in processes if "aws-lambda-rie" not in p.command]
    assert function_processes, processes
    assert {p.uid for p in function_processes} == {10001}, processes


def leftover(process: engine.Process) -> bool:
    """A zombie, or a browser process outliving its capture."""
    return process.state.startswith("Z") or "chrom" in process.command


def wait_until(condition: Callable[[], bool], seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.timeout(1800)
def test_200_invocations_leave_no_zombie_browser_or_file_and_memory_stays_bounded(
    image: str, lambda_env: dict[str, str], aws: LocalAws, site: PageServer
) -> None:
    pages = [
        site.page(f"/soak/{n}", MARKER_PAGE.replace(b"Twelve", str(n).encode())) for n in range(5)
    ]
    pages.append(site.page("/soak/white", WHITE_PAGE))
    results: list[dict[str, Any]] = []
    samples: list[int] = []
    with engine.lambda_container({**lambda_env, "BLANK_RETRY_DELAY_S": "0"}) as container:
        for n in range(200):
            results.append(container.invoke(event(pages[n % len(pages)])))

            def settled() -> bool:
                return not [
                    p
                    for p in container.processes()
                    if p.state.startswith("Z") or "chrom" in p.command
                ]

            assert wait_until(settled), f"after invocation {n + 1}: {container.processes()}"
            if n % 20 == 19:
                assert container.tmp_entries() == [], f"after invocation {n + 1}"
                samples.append(sum(container.rss_bytes().values()))
        pids_at_end = container.processes()
    statuses = {result["status"] for result in results}
    assert statuses == {"captured", "discarded"}, statuses
    white = [n for n in range(200) if pages[n % len(pages)].endswith("/white")]
    assert [n for n, result in enumerate(results) if result["status"] == "discarded"] == white
    # What stays between invocations: the emulator, tini, the runtime client and the driver.
    assert len(pids_at_end) <= 4, pids_at_end
    assert max(samples) < 1024**3, samples
    assert samples[-1] - samples[0] < 150 * 1024**2, samples
