"""Keep Python's cyclic garbage collector from freezing the UI at scale.

A refresh at 100k sockets leaves ~700k tracked objects alive (records, endpoints, indexes). CPython
runs a full collection whenever a quarter as many new objects have survived as there were old ones,
which a refresh does every time: each full collection walks every object, with the GIL held, for
0.2-0.5 s, in whichever thread happened to allocate. That was the 1.7 s key-press stalls measured
at 50k connections.

So: after each snapshot is shown, everything alive is frozen (``gc.freeze``: moved out of the
collector's sight, still freed by reference counting when it dies), and the oldest generation is
never collected automatically (a refresh's 100k new objects would trigger a 0.1 s walk of them,
mid-refresh); the young generations collect what is new as usual. The price is that cyclic garbage
that reached the old generation (a closed dialog's widgets) waits for the next full collection,
which runs when the user has been idle for a while, at most every few minutes, where a pause goes
unnoticed, or every half hour whatever happens, or sooner when garbage has piled up (see GROWTH).
"""

from __future__ import annotations

import gc
import sys
import time

#: Hand the GIL over after 1 ms instead of 5: the UI thread waits less behind a busy worker.
SWITCH_INTERVAL = 0.001
#: A full collection runs at most this often, and only after this long without a key press...
FULL_EVERY = 300.0
IDLE_FOR = 10.0
#: ...or after this long whatever the user does...
FULL_AT_LEAST_EVERY = 1800.0
#: ...or once the frozen objects are this many times what the last full collection left, whatever
#: the user does. Textual leaves cyclic garbage behind every repaint (a Strip keeps itself in its
#: own caches), and the next snapshot's freeze moves it out of the young generations' reach: with
#: the table changing on every refresh that grew by ~4,000 objects (0.5 MB) a second, never freed
#: while the user kept pressing keys (tests/app/test_churn_tui.py). A full collection costs time in
#: proportion to the heap; letting garbage grow to half the live heap first keeps that cost per
#: object allocated constant, as CPython's own rule for its oldest generation does.
GROWTH = 1.5
#: The oldest generation's threshold: in effect, never automatically.
NEVER = 1 << 30


class GcPolicy:
    """Freeze after each snapshot; collect fully now and then, when the user is idle."""

    def __init__(self) -> None:
        self._last_full = time.monotonic()
        self._last_input = time.monotonic()
        #: Frozen objects after the last full collection, or after the first snapshot before any.
        self._frozen_after_full = 0

    def install(self) -> None:
        """Process-wide settings for the TUI (not for ``--once``, which disables the collector)."""
        sys.setswitchinterval(SWITCH_INTERVAL)
        young, middle, _old = gc.get_threshold()
        gc.set_threshold(young, middle, NEVER)

    def snapshot_shown(self) -> None:
        """Called on the UI thread after a snapshot was applied: what is alive now is old."""
        gc.freeze()
        if not self._frozen_after_full:
            self._frozen_after_full = gc.get_freeze_count()

    def user_input(self) -> None:
        """Called on each key press."""
        self._last_input = time.monotonic()

    def maybe_collect(self) -> bool:
        """From a timer: the full collection, when due and the user is idle; True if it ran."""
        now = time.monotonic()
        since = now - self._last_full
        idle = now - self._last_input >= IDLE_FOR
        grown = self._frozen_after_full > 0 and gc.get_freeze_count() >= GROWTH * self._frozen_after_full
        if not (since >= FULL_AT_LEAST_EVERY or (since >= FULL_EVERY and idle) or grown):
            return False
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._last_full = time.monotonic()
        self._frozen_after_full = gc.get_freeze_count()
        return True
