"""The app's refresh loop under a slow source: one collect at a time, requests folded, quit at once.

A refresh of a busy machine takes seconds. Meanwhile the user presses ``space`` (pause, resume: resume
asks for a refresh at once) and other code asks for refreshes. A loop built of one worker per request
would start a second ``collect()`` on a collector that is not thread-safe. The source here is a fake
(a slow kernel cannot be had on cue): its second and later collects block on an Event the test sets,
and it records how many collect() calls ran at once and how many started.

Proves: while a collect runs, no other starts, however many pause/resume cycles and refresh requests
arrive; they fold into exactly one refresh right after it; and ``q`` during a slow collect cancels it
(the source's ``cancel`` makes the collect raise CollectCancelledError), closes the source from the
loop's thread and ends that thread, long before the collect would have finished on its own.
"""

from __future__ import annotations

import threading
import time

from sockui.app import SockuiApp
from sockui.collect.loop import CollectCancelledError
from sockui.model.socket import Snapshot

from .support import ONE_SNAPSHOT, tcp, wait_for_snapshot, wait_until

SIZE = (120, 30)
#: The slow collect gives up on its own after this long: far longer than any wait of a passing test.
SLOW_LIMIT = 60.0
DEADLINE = 10.0


class SlowSource:
    """The first collect returns at once; later ones block until :meth:`release` or :meth:`cancel`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.active = 0
        self.max_active = 0
        self.slow_running = threading.Event()
        self.wake = threading.Event()
        self.cancelled = False
        self.raised_cancelled = 0
        self.close_threads: list[threading.Thread] = []
        self.collect_threads: set[threading.Thread] = set()
        self.returned: list[Snapshot] = []

    def collect(self) -> Snapshot:
        with self.lock:
            self.calls += 1
            n = self.calls
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.collect_threads.add(threading.current_thread())
        try:
            if n > 1:
                self.slow_running.set()
                self.wake.wait(SLOW_LIMIT)
                with self.lock:
                    if self.cancelled:
                        self.raised_cancelled += 1
                        raise CollectCancelledError("cancelled")
            records = (tcp(1, 80, "LISTEN"), tcp(2, 80, remote_port=40000 + n))
            snapshot = Snapshot(sockets=records, taken_at=time.time(), users={0: "root"})
            with self.lock:
                self.returned.append(snapshot)
            return snapshot
        finally:
            with self.lock:
                self.active -= 1

    def release(self) -> None:
        self.wake.set()

    def cancel(self) -> None:
        with self.lock:
            self.cancelled = True
        self.wake.set()

    def close(self) -> None:
        with self.lock:
            self.close_threads.append(threading.current_thread())


async def test_pause_cycles_and_requests_during_a_slow_collect_fold_into_one() -> None:
    source = SlowSource()
    app = SockuiApp(interval=ONE_SNAPSHOT, source=lambda: source)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_snapshot(pilot, app)
            assert source.calls == 1
            app.refresh_now()
            await wait_until(pilot, source.slow_running.is_set, DEADLINE, "the slow collect to start")
            for _ in range(4):
                await pilot.press("space")
                assert app.paused
                app.refresh_now()
                await pilot.press("space")
                assert not app.paused
                app.refresh_now()
            await pilot.pause()  # every LiveChanged has reached the loop
            assert source.calls == 2, "a pause cycle or a refresh request started another collect"
            assert source.max_active == 1, "two collect() calls overlapped"
            assert app.loop.busy
            assert app.snapshots_applied == 1

            source.release()
            # The slow refresh is applied, then exactly one refresh for all the requests made meanwhile.
            await wait_until(
                pilot, lambda: app.loop.completed >= 3 and not app.loop.busy, DEADLINE, "the folded refresh"
            )
            assert source.calls == 3, f"{source.calls} collects: requests were not folded into one"
            # SnapshotReady messages replace each other in the queue: the last one is what counts.
            await wait_until(
                pilot, lambda: app.main.snapshot is source.returned[-1], DEADLINE, "the last snapshot applied"
            )
            await pilot.pause(0.3)  # nobody asks for more: nothing more may run (interval is an hour)
            assert source.calls == 3, f"{source.calls} collects: requests were not folded into one"
            assert source.max_active == 1, "two collect() calls overlapped"
            assert len(source.collect_threads) == 1, "collects ran on more than one thread"
            assert app.snapshots_applied in (2, 3)
    finally:
        source.release()
        app.loop.stop(timeout=DEADLINE)


async def test_quit_during_a_slow_collect_cancels_it_and_ends_the_loop() -> None:
    source = SlowSource()
    app = SockuiApp(interval=ONE_SNAPSHOT, source=lambda: source)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_snapshot(pilot, app)
            app.refresh_now()
            await wait_until(pilot, source.slow_running.is_set, DEADLINE, "the slow collect to start")
            pressed = time.monotonic()
            await pilot.press("q")
        # Uncancelled, the collect would block for SLOW_LIMIT seconds: the thread must end well before.
        deadline = pressed + DEADLINE
        while app.loop.running and time.monotonic() < deadline:
            time.sleep(0.01)  # the app has exited: nothing else to let run while polling
        assert not app.loop.running, "the loop's thread still runs after quitting"
        assert source.raised_cancelled == 1, "the slow collect was not cancelled"
        (collector,) = source.collect_threads
        assert source.close_threads == [collector], "the source was not closed once, by the loop's thread"
        assert app.snapshots_applied == 1
        assert app.return_code in (0, None)
    finally:
        source.release()
        app.loop.stop(timeout=DEADLINE)
