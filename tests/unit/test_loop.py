"""RefreshLoop's threading contract, with scripted sources (pure Python fakes).

The loop's promises are about threads, not about the kernel, so the sources here are fakes that
record what the loop did to them: how many collects ran at once, on which thread, when each one
started, whether ``cancel`` and ``close`` were called and from where. A slow collect blocks on an
Event the test sets (or that ``cancel`` sets), never on a timer.

Proves: at most one collect at a time, whatever the number of threads asking for refreshes, and any
number of requests during a refresh fold into exactly one more; a failing collect, ``prepare`` or
``make_source`` is reported through ``fail`` and the loop goes on; ``hold`` stops collecting and
remembers a request; ``stop`` cancels a collect in flight, delivers nothing more, reports no failure
and closes the source exactly once from the loop's own thread; an expensive collect stretches the
period to twice its cost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sockui.collect.loop import CollectCancelledError, RefreshLoop, SnapshotSource
from sockui.model.socket import Snapshot

#: Generous: a loaded CI box can be slow to schedule a thread; a passing test never waits this long.
DEADLINE = 10.0
#: No timer-driven refresh: the test asks for each one.
NEVER = 3600.0
#: How long a "nothing else happens" check watches. Absence cannot be polled for: it can only be
#: watched over a window; a loop that wrongly refreshed would do so at once (it has no reason to wait).
QUIET = 0.3


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``predicate`` until truthy and return its value; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.005)


def stays(predicate: Callable[[], bool], what: str, window: float = QUIET) -> None:
    """Fail if ``predicate`` turns false at any point during ``window`` seconds."""
    end = time.monotonic() + window
    while time.monotonic() < end:
        assert predicate(), what
        time.sleep(0.01)
    assert predicate(), what


class FakeSource:
    """A source that records how the loop uses it.

    ``collect`` number ``n`` (1-based) blocks when ``n`` is in ``slow`` until :meth:`release` or
    :meth:`cancel`; a cancelled collect raises ``cancel_error`` (CollectCancelledError unless told
    otherwise). With ``honour_cancel`` False,
    ``cancel`` is ignored: the collect runs to its end and returns normally.
    ``fail_on`` maps a call number to the exception that call raises. ``cost`` seconds of work are
    simulated per collect (time.sleep stands in for CPU time here, it synchronizes nothing).
    """

    def __init__(
        self,
        *,
        slow: frozenset[int] = frozenset(),
        fail_on: dict[int, Exception] | None = None,
        cost: float = 0.0,
        honour_cancel: bool = True,
        cancel_error: Exception | None = None,
    ) -> None:
        self.slow = slow
        self.cancel_error = cancel_error or CollectCancelledError("cancelled")
        self.fail_on = fail_on or {}
        self.cost = cost
        self.honour_cancel = honour_cancel
        self.lock = threading.Lock()
        self.calls = 0
        self.active = 0
        self.max_active = 0
        self.starts: list[float] = []
        self.collect_threads: set[threading.Thread] = set()
        self.entered = threading.Event()  # a slow collect is running
        self.wake = threading.Event()  # set by release() or cancel()
        self.cancelled = False
        self.cancel_calls = 0
        self.raised_cancelled = 0
        self.close_threads: list[threading.Thread] = []

    def collect(self) -> Snapshot:
        with self.lock:
            self.calls += 1
            n = self.calls
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.starts.append(time.monotonic())
            self.collect_threads.add(threading.current_thread())
        try:
            if self.cost:
                time.sleep(self.cost)
            if n in self.slow:
                self.entered.set()
                if not self.wake.wait(DEADLINE * 3):
                    raise AssertionError("the test never released the slow collect")
            with self.lock:
                if self.cancelled and self.honour_cancel:
                    self.raised_cancelled += 1
                    raise self.cancel_error
            failure = self.fail_on.get(n)
            if failure is not None:
                raise failure
            return Snapshot(sockets=(), taken_at=float(n))  # taken_at carries the call number
        finally:
            with self.lock:
                self.active -= 1

    def release(self) -> None:
        self.wake.set()

    def cancel(self) -> None:
        with self.lock:
            self.cancel_calls += 1
            self.cancelled = True
        if self.honour_cancel:
            self.wake.set()

    def close(self) -> None:
        with self.lock:
            self.close_threads.append(threading.current_thread())


class Harness:
    """Loops under test and what they delivered and reported; :meth:`close` stops them all."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.delivered: list[float] = []
        self.deliver_threads: set[threading.Thread] = set()
        self.failures: list[str] = []
        self.loops: list[RefreshLoop[float]] = []
        self.sources: list[FakeSource] = []

    def deliver(self, result: float) -> None:
        with self.lock:
            self.delivered.append(result)
            self.deliver_threads.add(threading.current_thread())

    def fail(self, error: str) -> None:
        with self.lock:
            self.failures.append(error)

    def loop(
        self,
        source: FakeSource | Callable[[], SnapshotSource],
        *,
        interval: float = NEVER,
        prepare: Callable[[Snapshot], float] | None = None,
    ) -> RefreshLoop[float]:
        """A loop (not started) whose deliveries and failures land here."""
        if isinstance(source, FakeSource):
            self.sources.append(source)
            fake = source
            make_source: Callable[[], SnapshotSource] = lambda: fake  # noqa: E731
        else:
            make_source = source
        loop: RefreshLoop[float] = RefreshLoop(
            make_source,
            interval=interval,
            prepare=prepare or (lambda snapshot: snapshot.taken_at),
            deliver=self.deliver,
            fail=self.fail,
        )
        self.loops.append(loop)
        return loop

    def close(self) -> None:
        for source in self.sources:
            source.release()
        for loop in self.loops:
            loop.stop(timeout=DEADLINE)
        for loop in self.loops:
            wait_for(lambda: not loop.running, "the loop's thread to end")  # noqa: B023


@pytest.fixture
def harness() -> Iterator[Harness]:
    """Every loop a test makes is stopped and its thread ended, whatever happens."""
    h = Harness()
    try:
        yield h
    finally:
        h.close()


# -- one collect at a time -------------------------------------------------------------------------------


def test_requests_during_a_slow_collect_fold_into_one(harness: Harness) -> None:
    source = FakeSource(slow=frozenset({1}))
    loop = harness.loop(source)
    loop.start()
    wait_for(source.entered.is_set, "the first (slow) collect to start")
    assert loop.busy

    go = threading.Barrier(4)

    def hammer() -> None:
        go.wait(DEADLINE)
        for _ in range(200):
            loop.refresh_now()

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert not any(t.is_alive() for t in threads)
    assert source.calls == 1, "a refresh request started a collect while one was running"

    source.release()
    wait_for(lambda: loop.completed == 2 and not loop.busy, "the folded follow-up refresh")
    stays(lambda: source.calls == 2, "800 requests during one collect made more than one follow-up")
    assert source.max_active == 1
    assert harness.delivered == [1.0, 2.0]
    assert harness.failures == []
    (collector,) = source.collect_threads
    assert collector is not threading.current_thread()
    assert harness.deliver_threads == {collector}, "deliver ran on another thread than collect"


def test_a_request_after_a_refresh_makes_exactly_one_more(harness: Harness) -> None:
    source = FakeSource()
    loop = harness.loop(source)
    loop.start()
    wait_for(lambda: loop.completed == 1, "the first refresh")
    stays(lambda: source.calls == 1, "the loop refreshed before its interval with nobody asking")
    loop.refresh_now()
    wait_for(lambda: loop.completed == 2, "the requested refresh")
    stays(lambda: source.calls == 2, "one request made more than one refresh")
    assert harness.delivered == [1.0, 2.0]


# -- failures are reported, never fatal ------------------------------------------------------------------


def test_a_failing_collect_is_reported_and_the_loop_goes_on(harness: Harness) -> None:
    source = FakeSource(fail_on={1: ValueError("boom")})
    loop = harness.loop(source, interval=0.02)
    loop.start()
    wait_for(lambda: harness.delivered, "a snapshot after the failed one")
    assert harness.failures[0] == "ValueError: boom"
    assert len(harness.failures) == 1
    assert harness.delivered[0] == 2.0, "the failed collect's call was not the one reported"
    assert loop.running


def test_a_failing_prepare_is_reported_and_the_loop_goes_on(harness: Harness) -> None:
    prepared = 0

    def prepare(snapshot: Snapshot) -> float:
        nonlocal prepared
        prepared += 1
        if prepared == 1:
            raise RuntimeError("bad index")
        return snapshot.taken_at

    source = FakeSource()
    loop = harness.loop(source, interval=0.02, prepare=prepare)
    loop.start()
    wait_for(lambda: harness.delivered, "a snapshot after the failed prepare")
    assert harness.failures == ["RuntimeError: bad index"]
    assert harness.delivered[0] == 2.0
    assert loop.running


def test_a_failing_make_source_is_retried_at_the_next_interval(harness: Harness) -> None:
    source = FakeSource()
    harness.sources.append(source)
    made = 0

    def make_source() -> SnapshotSource:
        nonlocal made
        made += 1
        if made == 1:
            raise PermissionError("netlink refused")
        return source

    loop = harness.loop(make_source, interval=0.02)
    loop.start()
    wait_for(lambda: len(harness.delivered) >= 3, "snapshots after the failed make_source")
    assert harness.failures == ["PermissionError: netlink refused"]
    assert made == 2, "the source was made again although the first one worked"
    assert harness.delivered[:3] == [1.0, 2.0, 3.0]


def test_a_cancelled_error_while_running_is_silent_and_the_loop_goes_on(harness: Harness) -> None:
    """A source may end a collect with CollectCancelledError on its own: not a failure to report."""
    source = FakeSource(fail_on={1: CollectCancelledError("cancelled")})
    loop = harness.loop(source, interval=0.02)
    loop.start()
    wait_for(lambda: harness.delivered, "a snapshot after the cancelled collect")
    assert harness.delivered[0] == 2.0
    assert harness.failures == [], "a cancelled collect was reported as a failure"


# -- hold ------------------------------------------------------------------------------------------------


def test_hold_prevents_collects_and_remembers_a_request(harness: Harness) -> None:
    source = FakeSource()
    loop = harness.loop(source)
    loop.hold(True)
    loop.start()
    loop.refresh_now()
    stays(lambda: source.calls == 0, "a held loop collected")
    loop.hold(False)
    wait_for(lambda: loop.completed == 1, "the first refresh once released")
    assert harness.delivered == [1.0]

    loop.hold(True)
    for _ in range(5):
        loop.refresh_now()
    stays(lambda: source.calls == 1, "a held loop collected on refresh_now")
    loop.hold(False)
    wait_for(lambda: loop.completed == 2, "the request remembered while held")
    stays(lambda: source.calls == 2, "five requests while held made more than one refresh")

    loop.hold(True)
    loop.hold(False)
    stays(lambda: source.calls == 2, "holding and releasing with no request pending refreshed")
    assert harness.delivered == [1.0, 2.0]
    assert harness.failures == []


# -- stop ------------------------------------------------------------------------------------------------


def test_stop_cancels_a_slow_collect_and_closes_the_source_once(harness: Harness) -> None:
    source = FakeSource(slow=frozenset({1}))
    loop = harness.loop(source)
    loop.start()
    wait_for(source.entered.is_set, "the slow collect to start")
    loop.stop(timeout=DEADLINE)
    wait_for(lambda: not loop.running, "the loop's thread to end")
    assert source.cancel_calls == 1
    assert source.raised_cancelled == 1, "the collect was not the one cancelled"
    assert harness.delivered == []
    assert harness.failures == [], "a cancelled collect was reported as a failure"
    (collector,) = source.collect_threads
    assert source.close_threads == [collector], "close() not called exactly once, from the loop thread"
    assert collector is not threading.current_thread()


def test_an_error_caused_by_stopping_is_not_reported(harness: Harness) -> None:
    """A collect that breaks because it was cancelled (a closed socket, say) is no failure to report."""
    source = FakeSource(slow=frozenset({1}), cancel_error=OSError(9, "Bad file descriptor"))
    loop = harness.loop(source)
    loop.start()
    wait_for(source.entered.is_set, "the slow collect to start")
    loop.stop(timeout=DEADLINE)
    wait_for(lambda: not loop.running, "the loop's thread to end")
    assert source.raised_cancelled == 1
    assert harness.failures == [], "an error of a collect cancelled by stop() was reported"
    assert harness.delivered == []
    assert len(source.close_threads) == 1


def test_nothing_is_delivered_after_stop_even_if_the_collect_finishes(harness: Harness) -> None:
    """A source that completes its collect although cancelled: the result is dropped, not delivered."""
    source = FakeSource(slow=frozenset({2}), honour_cancel=False)
    loop = harness.loop(source)
    loop.start()
    wait_for(lambda: loop.completed == 1, "the first refresh")
    loop.refresh_now()
    wait_for(source.entered.is_set, "the slow collect to start")
    loop.stop(timeout=0)  # do not wait: the collect is still blocked
    assert loop.running
    source.release()
    wait_for(lambda: not loop.running, "the loop's thread to end")
    assert source.calls == 2
    assert harness.delivered == [1.0], "a snapshot was delivered after stop()"
    assert harness.failures == []
    assert len(source.close_threads) == 1
    loop.refresh_now()
    loop.hold(False)
    assert source.calls == 2 and not loop.running, "a stopped loop came back to life"


def test_stop_while_idle_ends_the_thread_and_closes(harness: Harness) -> None:
    source = FakeSource()
    loop = harness.loop(source)
    loop.start()
    wait_for(lambda: loop.completed == 1, "the first refresh")
    loop.stop(timeout=DEADLINE)
    wait_for(lambda: not loop.running, "the loop's thread to end")
    assert len(source.close_threads) == 1
    assert source.close_threads[0] is not threading.current_thread()
    assert harness.failures == []


# -- period ----------------------------------------------------------------------------------------------


def test_an_expensive_collect_stretches_the_period_to_twice_its_cost(harness: Harness) -> None:
    cost, interval = 0.1, 0.01
    source = FakeSource(cost=cost)
    loop = harness.loop(source, interval=interval)
    loop.start()
    wait_for(lambda: len(source.starts) >= 5, "five refreshes")
    starts = list(source.starts)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # Each start is at least (previous start + 2 * that refresh's cost); cost >= the simulated cost.
    assert all(gap >= 2 * cost - 1e-6 for gap in gaps), gaps
    assert loop.last_cost >= cost
    assert harness.failures == []
