"""``sockui --events``: socket events as JSON lines until interrupted.

A snapshot every ``--interval`` seconds gives the opened and state events; the kernel's destroy
messages give the closes as they happen (``collect/history.py`` merges both). Written as they come and
flushed per batch, so ``| jq`` sees them at once. Ctrl-C ends it with status 0; a reader that goes
away (``| head``) ends it quietly.
"""

from __future__ import annotations

import os
import queue
import sys
import time
from typing import TextIO

from sockui.collect.history import HistoryKeeper
from sockui.model import coverage
from sockui.model.event_export import event_line
from sockui.model.filters import Filter
from sockui.model.history import HistoryRing, SocketEvent


def run_events(flt: Filter, interval: float, out: TextIO = sys.stdout) -> int:
    """Stream events matching ``flt``; returns the exit status."""
    from sockui.collect.snapshot import Collector

    batches: queue.SimpleQueue[list[SocketEvent]] = queue.SimpleQueue()
    keeper = HistoryKeeper(HistoryRing(1), on_events=batches.put)
    collector = Collector(services=flt.services)
    said: set[str] = set()
    overflows = 0
    try:
        users: dict[int, str] = {}
        due = 0.0
        while True:
            now = time.monotonic()
            if now >= due:
                snapshot = collector.collect()
                users = snapshot.users
                for note in coverage.notes(snapshot):
                    if note not in said:
                        said.add(note)
                        print(f"sockui: {note}", file=sys.stderr)
                keeper.on_snapshot(snapshot)
                for inode, why in keeper.unheard.items():
                    note = f"closes in network namespace {inode} are not heard ({why}); refreshes report them"
                    if note not in said:
                        said.add(note)
                        print(f"sockui: {note}", file=sys.stderr)
                if keeper.overflows > overflows:
                    overflows = keeper.overflows
                    print(
                        f"sockui: the kernel's event buffer overflowed ({overflows} times so far): "
                        "some closes were lost",
                        file=sys.stderr,
                    )
                due = time.monotonic() + interval
            try:
                batch = batches.get(timeout=max(0.0, due - time.monotonic()))
            except queue.Empty:
                continue
            lines = [event_line(e) for e in batch if flt.matches(e.record, users)]
            while True:  # everything that is already there, in one write
                try:
                    more = batches.get_nowait()
                except queue.Empty:
                    break
                lines += [event_line(e) for e in more if flt.matches(e.record, users)]
            if lines:
                out.write("\n".join(lines) + "\n")
                out.flush()
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    finally:
        keeper.stop()
        collector.close()
