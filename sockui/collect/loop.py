"""The refresh loop: one thread owns the snapshot source and is the only one that ever calls it.

A Collector is not thread-safe (one netlink receive buffer, one owner map): two ``collect()`` calls
at once corrupt both. Textual's ``exclusive=True`` does not stop a thread worker that is already
running, so a loop made of workers ("refresh now" while a refresh runs) can overlap two collects.
Here a single long-lived thread makes every call, so at most one collect runs per source by
construction; requests that arrive meanwhile are folded into one refresh that starts right after.

The thread also does the per-snapshot work the UI must not do (``prepare``: indexes, filtering,
sorting) and hands the result over through ``deliver``, which must be thread-safe (the app passes
``post_message``). The loop never stops on its own: a failed refresh is reported through ``fail``
and the next one is scheduled as usual. No Textual here: the app drives it through plain calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from sockui.model.socket import Snapshot

T = TypeVar("T")


class CollectCancelledError(Exception):
    """A source's :meth:`SnapshotSource.cancel` was called while it collected."""


class SnapshotSource(Protocol):
    """What the loop needs from a collector (the real :class:`Collector`, or a scripted one)."""

    def collect(self) -> Snapshot:
        """Read one snapshot. Called from the loop's thread only."""
        ...

    def cancel(self) -> None:
        """Make a running :meth:`collect` stop soon with CollectCancelledError (thread-safe, sticky)."""
        ...

    def close(self) -> None:
        """Release the source's resources (called from the loop's thread, after its last collect)."""
        ...


class RefreshLoop(Generic[T]):
    """Collect, prepare and deliver snapshots every ``interval`` seconds on one thread.

    An expensive refresh stretches the period to twice its cost, so collecting never takes more
    than half of a core. ``hold`` stops refreshing (the user paused, or a dialog covers the table)
    without losing a request made meanwhile.
    """

    def __init__(
        self,
        make_source: Callable[[], SnapshotSource],
        *,
        interval: float,
        prepare: Callable[[Snapshot], T],
        deliver: Callable[[T], None],
        fail: Callable[[str], None],
    ) -> None:
        """Set the loop up; nothing runs before :meth:`start`.

        Args:
            make_source: builds the source, in the loop's thread (it opens sockets: it may fail, and
                then it is reported and tried again at the next interval).
            interval: seconds between the starts of two refreshes.
            prepare: per-snapshot work done in the loop's thread (its result is delivered).
            deliver: receives each prepared result; called from the loop's thread.
            fail: receives a one-line description of a failed refresh; called from the loop's thread.
        """
        self._make_source = make_source
        self._prepare = prepare
        self._deliver = deliver
        self._fail = fail
        self._interval = interval
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._source: SnapshotSource | None = None
        self._stopping = False
        self._held = False
        self._wanted = True  # the first refresh starts at once
        self._due = 0.0
        self._last_start: float | None = None
        self._busy = False
        #: Refreshes finished (delivered, failed or cancelled), for tests and benchmarks.
        self.completed = 0
        #: Seconds the last refresh took (collect + prepare).
        self.last_cost = 0.0
        #: A failure that could not be reported because ``fail`` itself raised (for diagnostics).
        self.unreported: str | None = None

    # -- control, from any thread ------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sockui-refresh", daemon=True)
            self._thread.start()

    def refresh_now(self) -> None:
        """Refresh as soon as possible: at once when idle, right after the running refresh otherwise.

        Any number of calls during one refresh make one more refresh, never a second thread.
        """
        with self._cond:
            self._wanted = True
            self._cond.notify_all()

    def hold(self, held: bool) -> None:
        """Stop (True) or resume (False) refreshing; a resumed loop catches up if a refresh is due."""
        with self._cond:
            self._held = held
            self._cond.notify_all()

    def set_interval(self, interval: float) -> None:
        """Change the period; the refresh already scheduled moves to the new one."""
        with self._cond:
            self._interval = interval
            if self._last_start is not None:
                self._due = self._last_start + max(interval, 2 * self.last_cost)
            self._cond.notify_all()

    @property
    def busy(self) -> bool:
        """True while a refresh runs."""
        return self._busy

    @property
    def running(self) -> bool:
        """True while the loop's thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop for good: cancel a refresh in flight and let the thread close the source and end.

        Waits at most ``timeout`` seconds: the thread is a daemon, so a refresh stuck in the kernel
        cannot keep the process from exiting (netlink reads time out on their own anyway).
        """
        with self._cond:
            self._stopping = True
            source = self._source
            self._cond.notify_all()
        if source is not None:
            source.cancel()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # -- the thread ----------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._wait_until_due():
                started = time.monotonic()
                self._refresh_once()
                cost = time.monotonic() - started
                with self._cond:
                    self._busy = False
                    self.completed += 1
                    self.last_cost = cost
                    self._last_start = started
                    self._due = started + max(self._interval, 2 * cost)
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._busy = False
                source, self._source = self._source, None
            if source is not None:
                source.close()

    def _wait_until_due(self) -> bool:
        """Block until a refresh should start (True) or the loop stops (False)."""
        with self._cond:
            while not self._stopping:
                timeout: float | None = None
                if not self._held:
                    if self._wanted:
                        break
                    timeout = self._due - time.monotonic()
                    if timeout <= 0:
                        break
                self._cond.wait(timeout)
            if self._stopping:
                return False
            self._wanted = False
            self._busy = True
            return True

    def _refresh_once(self) -> None:
        try:
            if self._source is None:
                source = self._make_source()
                with self._cond:
                    self._source = source
                    if self._stopping:
                        return
            result = self._prepare(self._source.collect())
        except CollectCancelledError:
            return
        except Exception as exc:  # noqa: BLE001 - any failure is reported; the loop must go on
            self._report(exc)
            return
        if not self._stopping:
            try:
                self._deliver(result)
            except Exception as exc:  # noqa: BLE001 - a failing receiver must not end the loop either
                self._report(exc)

    def _report(self, exc: Exception) -> None:
        if self._stopping:
            return
        try:
            self._fail(f"{type(exc).__name__}: {exc}")
        except Exception as failed:  # noqa: BLE001 - nowhere left to report to: kept, and the loop goes on
            self.unreported = f"{type(failed).__name__}: {failed} (reporting {type(exc).__name__}: {exc})"
