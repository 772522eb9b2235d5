"""The guard against the URL Standard's own tests (web-platform-tests, see tests/data/README.md).

Every http/https case whose meaning does not depend on a base: the guard's host is the
standard's host, or the URL is refused for a stated policy reason. A preview URL has no base.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from lambda_fn.errors import UrlBlockedError
from lambda_fn.network.guard import UrlPolicy, check_url

DATA = Path(__file__).parent.parent / "data" / "urltestdata.json"
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
PRIVATE_OK = UrlPolicy(allow_private=True)
# Refusals of URLs the standard accepts: credentials, and hosts that are no DNS name (where
# Chromium and the standard disagree too: Chromium escapes "*").
POLICY_REASONS = {"userinfo", "invalid_host"}
# Labels "xn--" + invalid punycode: the standard refuses them; Chromium 156 accepts them as they
# are (no punycode check on ASCII hosts), and so does the guard: it reads hosts as Chromium does.
CHROMIUM_ACCEPTS = re.compile(r"(?i)\bxn--(pokxncvks)?$")


def prepared(text: str) -> str:
    """The standard's first steps: strip C0 controls and spaces, remove tabs and newlines."""
    stripped = text.strip("".join(chr(code) for code in range(0x21)))
    return stripped.translate(str.maketrans("", "", "\t\n\r"))


def is_base_independent(case: dict[str, Any]) -> bool:
    """An http(s) input that the standard reads the same with or without ``base``: no base, a
    base of another scheme, or two slashes (either kind) after the scheme."""
    text = prepared(case["input"])
    match = SCHEME.match(text)
    if match is None or match[1].lower() not in ("http", "https"):
        return False
    base = case.get("base")
    if base is None or not base.lower().startswith(match[1].lower() + ":"):
        return True
    rest = text[match.end() :]
    return len(rest) >= 2 and rest[0] in "/\\" and rest[1] in "/\\"


CASES = [
    case
    for case in json.loads(DATA.read_text(encoding="utf-8"))
    if isinstance(case, dict) and is_base_independent(case)
]


def guard_host(url: str) -> str | UrlBlockedError:
    try:
        return check_url(url, PRIVATE_OK, lambda name, port: ["93.184.216.34"]).host
    except UrlBlockedError as exc:
        return exc


def test_the_data_holds_the_cases_it_should() -> None:
    assert len(CASES) > 350
    assert sum(1 for case in CASES if case.get("failure")) > 150


@pytest.mark.parametrize("case", CASES, ids=[repr(case["input"])[:60] for case in CASES])
def test_guard_reads_the_host_as_the_standard_does(case: dict[str, Any]) -> None:
    host = guard_host(case["input"])
    if case.get("failure"):
        if isinstance(host, str):
            assert CHROMIUM_ACCEPTS.search(host.split(".")[-1]), host
    elif isinstance(host, UrlBlockedError):
        assert host.why in POLICY_REASONS, host
    else:
        assert host == case["hostname"]
