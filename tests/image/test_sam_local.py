"""The README's `sam local invoke`, run as written: `cdk synth`, `sam build` on the synthesized
template (which builds Dockerfile.lambda), `sam local invoke` with the README's env.json, on a
copy of this tree. The page is served by a second container on Docker's default network (where
SAM runs the function); the blank page it serves must come back judged and discarded."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.image import engine

README = engine.ROOT / "README.md"
FENCE = re.compile(r"```(?P<lang>\w*)\n(?P<body>.*?)```", re.DOTALL)
# A white page on port 8000 of its own container.
PAGE_SERVER = """
import http.server
class White(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><html><body></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), White).serve_forever()
"""


def readme_block(containing: str, lang: str) -> str:
    (block,) = [
        match["body"]
        for match in FENCE.finditer(README.read_text())
        if match["lang"] == lang and containing in match["body"]
    ]
    return block


@pytest.fixture
def page_container(image: str) -> Iterator[str]:
    name = f"preview-sam-page-{uuid.uuid4().hex[:12]}"
    engine.docker(
        "run",
        "--detach",
        "--rm",
        "--name",
        name,
        "--entrypoint",
        "python",
        image,
        "-c",
        PAGE_SERVER,
    )
    try:
        address = engine.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).strip()
        assert address, "the page container has no address on the default network"
        yield f"http://{address}:8000/"
    finally:
        engine.docker("rm", "--force", name, check=False)


def copy_of_the_tree(target: Path) -> Path:
    listed = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=engine.ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = engine.ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(engine.ROOT / ".venv")
    return target


@pytest.mark.timeout(2400)
def test_readme_sam_local_invoke_gives_a_judged_result(page_container: str, tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path / "tree")
    commands = readme_block("sam build -t", "sh")
    env_json = json.loads(readme_block('"CaptureFunctionCC554B5F"', "json"))
    event = json.loads((tree / "events" / "eventbridge.json").read_text())
    event["detail"]["preview_url"] = page_container
    (tree / "events" / "eventbridge.json").write_text(json.dumps(event))
    (tree / "env.json").write_text(json.dumps(env_json))
    environment = {
        **os.environ,
        "PATH": f"{engine.SAM_VENV / 'bin'}:{os.environ['PATH']}",
        "SAM_CLI_TELEMETRY": "0",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands],
        cwd=tree,
        env=environment,
        capture_output=True,
        text=True,
        timeout=2000,
        check=False,
    )
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-5000:]}"
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["status"] == "discarded", result
    assert result["reason"].startswith("blank:"), result
    assert (result["snapshot_url"], result["image"]) == (None, None)
