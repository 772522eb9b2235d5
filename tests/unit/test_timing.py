"""PhaseTimer: milliseconds per phase, and the first phase an exception cut short."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from lambda_fn.capture.timing import PhaseTimer


class Clock:
    """A ``perf_counter`` that only moves when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class PhaseFailedError(Exception):
    pass


def fail_in(timer: PhaseTimer, name: str, spend: Callable[[], None] = lambda: None) -> None:
    with timer.phase(name):
        spend()
        raise PhaseFailedError(name)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("lambda_fn.capture.timing.time.perf_counter", fake)
    return fake


def test_phase_records_its_elapsed_milliseconds(clock: Clock) -> None:
    timer = PhaseTimer()
    with timer.phase("navigation"):
        clock.advance(0.25)
    assert timer.ms == {"navigation": 250}


def test_phases_are_recorded_separately_in_order(clock: Clock) -> None:
    timer = PhaseTimer()
    for name, seconds in [("launch", 0.4), ("navigation", 0.3), ("screenshot", 0.05)]:
        with timer.phase(name):
            clock.advance(seconds)
    assert list(timer.ms.items()) == [("launch", 400), ("navigation", 300), ("screenshot", 50)]


def test_repeated_phase_accumulates(clock: Clock) -> None:
    timer = PhaseTimer()
    for seconds in (0.1, 0.02, 0.003):
        with timer.phase("readiness"):
            clock.advance(seconds)
    assert timer.ms == {"readiness": 123}


def test_time_between_phases_is_not_counted(clock: Clock) -> None:
    timer = PhaseTimer()
    with timer.phase("launch"):
        clock.advance(0.1)
    clock.advance(5)
    with timer.phase("launch"):
        clock.advance(0.1)
    assert timer.ms == {"launch": 200}


def test_phase_cut_short_still_records_its_time_and_the_error_propagates(clock: Clock) -> None:
    timer = PhaseTimer()
    with pytest.raises(PhaseFailedError, match="navigation"):
        fail_in(timer, "navigation", lambda: clock.advance(0.07))
    assert timer.ms == {"navigation": 70}


def test_no_phase_is_interrupted_when_all_complete() -> None:
    timer = PhaseTimer()
    with timer.phase("launch"):
        pass
    with timer.phase("navigation"):
        pass
    assert (timer.interrupted, timer.current) == (None, "navigation")


def test_interrupted_is_the_phase_an_exception_cut_short() -> None:
    timer = PhaseTimer()
    with timer.phase("launch"):
        pass
    with pytest.raises(PhaseFailedError):
        fail_in(timer, "readiness")
    assert timer.interrupted == "readiness"


def test_interrupted_keeps_the_first_phase_cut_short() -> None:
    timer = PhaseTimer()
    with pytest.raises(PhaseFailedError):
        fail_in(timer, "navigation")
    with pytest.raises(PhaseFailedError):
        fail_in(timer, "teardown")
    assert timer.interrupted == "navigation"


def test_nested_phase_that_raises_is_the_interrupted_one() -> None:
    timer = PhaseTimer()
    with pytest.raises(PhaseFailedError), timer.phase("capture"):
        fail_in(timer, "screenshot")
    assert timer.interrupted == "screenshot"


def test_cancellation_by_a_deadline_marks_the_phase_interrupted() -> None:
    timer = PhaseTimer()

    async def attempt() -> None:
        async with asyncio.timeout(0.01):
            with timer.phase("readiness"):
                await asyncio.sleep(10)

    with pytest.raises(TimeoutError):
        asyncio.run(attempt())
    assert timer.interrupted == "readiness"
    assert timer.ms["readiness"] < 5000
