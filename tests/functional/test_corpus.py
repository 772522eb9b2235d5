"""The labelled corpus (tests/functional/corpus): sparse real UIs and blank, loading and error
screens, captured by the real headless shell and judged under both blank policies.

A page's label is its file name's first word: ``real`` must be kept by the content-aware policy;
``blank``, ``loading`` and ``error`` must be discarded (blank) or failed (an error screen). The
default policy's verdicts are whatever the pixel rule says; the confusion table of both is in
docs/blank-policy.md (``python -m tests.functional.test_corpus`` prints it).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lambda_fn.capture.browser import Chromium, Shot, find_executable
from lambda_fn.capture.timing import PhaseTimer
from lambda_fn.pictures.blank import BlankPolicy, judge
from tests.pages import PageServer

CORPUS = Path(__file__).resolve().parent / "corpus"
PAGES = sorted(CORPUS.glob("*.html"))
LABELS = ("real", "blank", "loading", "error")
# Readiness waits out a loading indicator until this deadline (the service's is the attempt's).
READY_WITHIN_S = 4.0
DEFAULT = BlankPolicy()
CONTENT_AWARE = BlankPolicy(content_aware=True)


@dataclass(frozen=True, slots=True)
class Verdicts:
    label: str
    shot: Shot
    default: str
    content_aware: str


def label_of(page: Path) -> str:
    return page.stem.split("-", 1)[0]


def verdict(shot: Shot, policy: BlankPolicy) -> str:
    if shot.page.app_error is not None:
        return "failed"
    return "discarded" if judge(shot.png, policy, shot.dom).blank else "captured"


async def capture_corpus(server: PageServer) -> dict[str, Verdicts]:
    chromium = Chromium(find_executable(None))
    judged = {}
    try:
        for page in PAGES:
            url = server.page(f"/{page.stem}", page.read_bytes())
            ready_by = time.monotonic() + READY_WITHIN_S
            async with chromium.shoot(url, PhaseTimer(), egress=None, ready_by=ready_by) as shot:
                judged[page.stem] = Verdicts(
                    label_of(page), shot, verdict(shot, DEFAULT), verdict(shot, CONTENT_AWARE)
                )
    finally:
        await chromium.stop()
    return judged


def judge_corpus() -> dict[str, Verdicts]:
    server = PageServer()
    server.start()
    try:
        return asyncio.run(capture_corpus(server))
    finally:
        server.stop()


@pytest.fixture(scope="module")
def corpus() -> dict[str, Verdicts]:
    return judge_corpus()


def test_corpus_has_at_least_30_labelled_pages_of_every_kind() -> None:
    kinds = Counter(label_of(page) for page in PAGES)
    assert set(kinds) == set(LABELS)
    assert sum(kinds.values()) >= 30
    assert kinds["real"] >= 15


@pytest.mark.parametrize("page", [page.stem for page in PAGES])
def test_content_aware_policy_keeps_real_pages_and_drops_the_rest(
    corpus: dict[str, Verdicts], page: str
) -> None:
    judged = corpus[page]
    expected = {"captured"} if judged.label == "real" else {"discarded", "failed"}
    judgement = judge(judged.shot.png, CONTENT_AWARE, judged.shot.dom)
    assert judged.content_aware in expected, (judgement, judged.shot.dom, judged.shot.page)


@pytest.mark.parametrize("page", [page.stem for page in PAGES if label_of(page) == "real"])
def test_real_pages_show_more_than_their_background(corpus: dict[str, Verdicts], page: str) -> None:
    """The capture itself holds the app (not the verdict): pixels other than the background."""
    pixels = np.asarray(Image.open(io.BytesIO(corpus[page].shot.png)).convert("RGB"))
    flat = pixels.reshape(-1, 3)
    background = np.median(flat, axis=0)
    assert np.count_nonzero(np.abs(flat - background).sum(axis=1) > 30) >= 200


def test_default_policy_discards_every_uniform_capture_of_the_corpus(
    corpus: dict[str, Verdicts],
) -> None:
    for judged in corpus.values():
        uniform = judge(judged.shot.png, DEFAULT).blank
        expected = (
            "failed" if judged.shot.page.app_error else ("discarded" if uniform else "captured")
        )
        assert judged.default == expected


def confusion_table(judged: dict[str, Verdicts]) -> str:
    rows = [
        "| label | pages | default: captured | default: dropped | content-aware: captured"
        " | content-aware: dropped |",
        "|---|---|---|---|---|---|",
    ]
    for label in LABELS:
        group = [v for v in judged.values() if v.label == label]
        default = sum(v.default == "captured" for v in group)
        aware = sum(v.content_aware == "captured" for v in group)
        rows.append(
            f"| {label} | {len(group)} | {default} | {len(group) - default} | {aware} |"
            f" {len(group) - aware} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    results = judge_corpus()
    print(confusion_table(results))
    for name, judged in results.items():
        print(f"{name:36} default={judged.default:10} content-aware={judged.content_aware}")
