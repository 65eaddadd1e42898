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
unnoticed, or every half hour whatever happens.
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
#: ...or after this long whatever the user does.
FULL_AT_LEAST_EVERY = 1800.0
#: The oldest generation's threshold: in effect, never automatically.
NEVER = 1 << 30


class GcPolicy:
    """Freeze after each snapshot; collect fully now and then, when the user is idle."""

    def __init__(self) -> None:
        self._last_full = time.monotonic()
        self._last_input = time.monotonic()

    def install(self) -> None:
        """Process-wide settings for the TUI (not for ``--once``, which disables the collector)."""
        sys.setswitchinterval(SWITCH_INTERVAL)
        young, middle, _old = gc.get_threshold()
        gc.set_threshold(young, middle, NEVER)

    def snapshot_shown(self) -> None:
        """Called on the UI thread after a snapshot was applied: what is alive now is old."""
        gc.freeze()

    def user_input(self) -> None:
        """Called on each key press."""
        self._last_input = time.monotonic()

    def maybe_collect(self) -> bool:
        """From a timer: the full collection, when due and the user is idle; True if it ran."""
        now = time.monotonic()
        since = now - self._last_full
        idle = now - self._last_input >= IDLE_FOR
        if not (since >= FULL_AT_LEAST_EVERY or (since >= FULL_EVERY and idle)):
            return False
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._last_full = time.monotonic()
        return True
