"""Generated invalid and blocked inputs, end to end: the real handler (and the capture with a
test DNS) answers ``rejected`` with a reason, never raises, never launches a browser, and the
page server that every generated URL points at is never asked for anything.

The unit tests fuzz ``parse_request`` and ``check_url`` alone; these pin that nothing between
the event and the browser lets such an input through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lambda_fn.capture.browser import Chromium, find_executable
from lambda_fn.capture.stage import Network, capture
from lambda_fn.config import Settings
from lambda_fn.events import CaptureRequest
from lambda_fn.local.context import LocalContext
from lambda_fn.network.egress import Streams
from tests.functional.conftest import HandlerFactory
from tests.pages import RICH_PAGE, PageServer

# Non-public ranges, written out independently of the guard's own tables.
PRIVATE_V4 = [
    ipaddress.IPv4Network(network)
    for network in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
]
PRIVATE_V6 = [
    ipaddress.IPv6Network(network) for network in ("::1/128", "fc00::/7", "fe80::/10", "ff00::/8")
]
EXAMPLES = settings(max_examples=150, deadline=None)


def address_in(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> st.SearchStrategy[Any]:
    return st.integers(0, network.num_addresses - 1).map(lambda offset: network[offset])


private_v4 = st.sampled_from(PRIVATE_V4).flatmap(address_in)
private_v6 = st.sampled_from(PRIVATE_V6).flatmap(address_in)


def spell_v4(address: ipaddress.IPv4Address, style: str) -> str:
    value = int(address)
    octets = list(address.packed)
    return {
        "dotted": str(address),
        "decimal": str(value),
        "hex": hex(value),
        "octal": ".".join(f"0{octet:o}" for octet in octets),
        "short": f"{octets[0]}.{value & 0xFFFFFF}",
        "trailing_dot": f"{address}.",
        "mapped": f"[::ffff:{address}]",
    }[style]


STYLES = ["dotted", "decimal", "hex", "octal", "short", "trailing_dot", "mapped"]
private_hosts = st.one_of(
    st.builds(spell_v4, private_v4, st.sampled_from(STYLES)),
    private_v6.map(lambda address: f"[{address}]"),
    st.sampled_from(["localhost", "LOCALHOST.", "app.localhost", "localhost6"]),
)
paths = st.sampled_from(["/", "/latest/meta-data/", "/2018-06-01/runtime/invocation/next", ""])


def blocked_request(port: int) -> st.SearchStrategy[dict[str, Any]]:
    """Well-formed requests whose URL is a private destination (any spelling) on ``port``."""
    return st.fixed_dictionaries(
        {
            "job_id": st.uuids().map(str),  # a new stage each time: never an idempotent replay
            "stage": st.sampled_from(["checks", "ready"]),
            "preview_url": st.builds(
                "{}://{}:{}{}".format,
                st.sampled_from(["http", "https"]),
                private_hosts,
                st.just(port),
                paths,
            ),
        }
    )


def invalid_request(port: int) -> st.SearchStrategy[Any]:
    """Events that break the request contract in one field, pointing at the page server."""
    url = f"http://127.0.0.1:{port}/"
    valid = {"job_id": "job-1", "stage": "ready", "preview_url": url}
    return st.one_of(
        st.sampled_from(["job_id", "stage", "preview_url"]).map(
            lambda field: {k: v for k, v in valid.items() if k != field}
        ),
        st.builds(
            lambda value: {**valid, "job_id": value},
            st.sampled_from(["../x", "a/b", "", "-lead", "x" * 129, "job id"])
            | st.integers()
            | st.none(),
        ),
        st.builds(
            lambda value: {**valid, "stage": value},
            st.sampled_from(["READY", "", "1st", "a" * 33]) | st.booleans(),
        ),
        st.builds(
            lambda value: {**valid, "preview_url": value},
            st.sampled_from(
                [
                    f"file:///etc/passwd#{port}",
                    f"ftp://127.0.0.1:{port}/",
                    f"javascript:fetch('{url}')",
                    f"http://user:pw@127.0.0.1:{port}/",
                    f"http://127.0.0.1:{port}/" + "a" * 2048,
                    f"//127.0.0.1:{port}/",
                    "http://",
                ]
            )
            | st.lists(st.just(url), max_size=2),
        ),
        st.builds(lambda extra: {**valid, **extra}, st.just({"Records": [{"body": url}]})),
        st.just([valid]),
        st.just(url),
        st.none(),
    )


def test_invalid_or_blocked_event_is_rejected_without_a_browser(
    load_handler: HandlerFactory, pages: PageServer
) -> None:
    guarded_handler = load_handler(ALLOW_PRIVATE_URLS="false")
    port = pages.server_address[1]
    pages.page("/", RICH_PAGE)

    @EXAMPLES
    @given(st.one_of(blocked_request(port), invalid_request(port)))
    def check(event: Any) -> None:
        result = guarded_handler.handler(event, LocalContext())
        assert result["status"] == "rejected", (event, result)
        assert result["reason"].startswith(("invalid_request:", "url_blocked:")), result
        assert result["snapshot_url"] is None

    check()
    assert guarded_handler.SERVICE.chromium.launches == 0
    assert sum(pages.hits.values()) == 0


class PrivateDns:
    """Every name resolves to the generated private addresses."""

    def __init__(self) -> None:
        self.answers: Sequence[str] = ()

    def __call__(self, host: str, port: int) -> Sequence[str]:
        return self.answers


async def refuse_to_connect(address: str, port: int) -> Streams:
    raise AssertionError(f"nothing may connect, yet {address}:{port} was dialled")


@EXAMPLES
@given(
    st.from_regex(
        r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,2}\.(test|app|com)", fullmatch=True
    ),
    st.lists(st.one_of(private_v4, private_v6).map(str), min_size=1, max_size=3),
    st.lists(st.sampled_from(["93.184.216.34", "2606:2800:220:1::1"]), max_size=2),
)
def test_name_resolving_to_any_private_address_is_rejected_without_a_browser(
    name: str, private: list[str], public: list[str]
) -> None:
    dns = PrivateDns()
    dns.answers = [*public, *private]
    chromium = Chromium(find_executable(None))
    request = CaptureRequest(job_id="fuzz", stage="ready", preview_url=f"https://{name}/")
    outcome = asyncio.run(
        capture(
            request,
            Settings.from_env({}),
            chromium=chromium,
            store=None,
            network=Network(resolve=dns, connect=refuse_to_connect),
        )
    )
    assert (outcome.result.status, outcome.result.reason) == (
        "rejected",
        "url_blocked:private_address",
    )
    assert chromium.launches == 0


def test_unresolvable_name_is_rejected_without_a_browser() -> None:
    def no_such_name(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    chromium = Chromium(find_executable(None))
    request = CaptureRequest(job_id="fuzz", stage="ready", preview_url="https://nowhere.test/")
    outcome = asyncio.run(
        capture(
            request,
            Settings.from_env({}),
            chromium=chromium,
            store=None,
            network=Network(resolve=no_such_name, connect=refuse_to_connect),
        )
    )
    assert (outcome.result.status, outcome.result.reason) == (
        "rejected",
        "url_blocked:unresolvable",
    )
    assert chromium.launches == 0
