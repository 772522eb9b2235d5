"""The Playwright driver (a Node process) and its early start in a cold start.

The driver's Node process spends about half a second of CPU starting, in a process of its own;
Python's imports after Playwright's (boto3, numpy, pydantic, the service) are as long again, in
this one. ``EarlyDriver`` starts the driver in a thread as soon as Playwright is imported, so the
two run side by side: the thread only spawns Node and waits for its answer (blocked on the pipe,
without the GIL) while the importing thread goes on.
"""

from __future__ import annotations

import asyncio
import resource
import threading
from concurrent.futures import Future

from playwright.async_api import Playwright, async_playwright


async def start_driver() -> Playwright:
    """Start the driver. Chromium and its renderers inherit the limit set here: no core dumps
    filling /tmp."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return await async_playwright().start()


class EarlyDriver:
    """The driver started on ``loop`` in a thread of its own; ``playwright()`` waits for it.

    ``loop`` is run by that thread until the driver has answered, and by its owner afterwards
    (never both at once: ``playwright()`` joins the thread first).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._started: Future[Playwright] = Future()
        self._thread = threading.Thread(target=self._start, name="driver-start", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self._started.set_result(self.loop.run_until_complete(start_driver()))
        except BaseException as exc:  # handed to the thread that waits, raised there
            self._started.set_exception(exc)

    def playwright(self) -> Playwright:
        """The started driver; what starting it raised, raised here."""
        self._thread.join()
        return self._started.result()

    def stop(self) -> None:
        """Stop the driver however far it got, and close the loop: for a cold start that fails
        after starting it (a bad configuration). Once is enough; again does nothing."""
        self._thread.join()
        if self.loop.is_closed():
            return
        try:
            if self._started.exception() is None:
                self.loop.run_until_complete(self._started.result().stop())
        finally:
            self.loop.close()
