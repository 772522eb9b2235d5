"""Per-phase wall-clock timings of one capture."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class PhaseTimer:
    """Accumulates milliseconds per named phase, and remembers which phase was under way."""

    def __init__(self) -> None:
        self.ms: dict[str, int] = {}
        self.current: str | None = None
        self.interrupted: str | None = None

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.current = name
        started = time.perf_counter()
        try:
            yield
        except BaseException:
            # The first phase an error or a cancellation (deadline) cut short: what failed.
            self.interrupted = self.interrupted or name
            raise
        finally:
            elapsed = round((time.perf_counter() - started) * 1000)
            self.ms[name] = self.ms.get(name, 0) + elapsed
