"""Benchmark: does the UI stay responsive while refreshes run at scale?

Builds a real scenario (``scenario.py``: N loopback TCP connections held by helper processes, 10k by
default, i.e. 20k sockets plus whatever the machine has), opens the app headless with Pilot at
160x45 and a 0.5 s refresh interval, and presses ``down`` over and over while refreshes come and go.
Two latencies per press:

- press to repaint: from ``pilot.press("down")`` until the table has redrawn a line after the cursor
  moved (its ``render_line`` wrapped to note the time): what a user sees;
- press to idle: until the cursor moved and ``pilot.pause()`` returned. Pilot waits for the whole
  process to be CPU-idle (``textual._wait.wait_for_idle``, in 20 ms steps), so this one includes ~80 ms
  of Pilot overhead and grows while the collector thread is busy, even when the UI is not.

Presses are classed by what the app was doing: a refresh running in its worker thread at the press
(and still running when the press was done), a snapshot applied during the press, or idle. A first
run with 100 still rows and free refreshes gives the baseline (Pilot's own overhead). Alongside: the
refresh cost (``snapshot.duration``, in the worker) and the UI-thread cost of applying each snapshot
(``MainScreen.apply_snapshot``).

This is a benchmark, not a test: it prints figures and asserts nothing. Speed depends on the machine
and on what else runs there; measure on a quiet one.

Run: ``python bench/bench_ui.py [--connections 10000] [--presses 400] [--interval 0.5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(_BENCH), str(_BENCH.parent)]

from scenario import Scenario, ScenarioError  # noqa: E402
from textual.message import Message  # noqa: E402
from textual.pilot import Pilot  # noqa: E402
from textual.strip import Strip  # noqa: E402

from sockui.app import SockuiApp  # noqa: E402
from sockui.messages import SnapshotReady  # noqa: E402
from sockui.model.socket import (  # noqa: E402
    Binding,
    Family,
    InetEndpoint,
    Proto,
    Snapshot,
    SocketRecord,
    SockType,
)
from sockui.widgets.socket_table import SocketTable  # noqa: E402

SIZE = (160, 45)
KINDS = ("refreshing", "applying", "idle")
LABELS = {
    "refreshing": "a refresh running in the worker at the press",
    "applying": "a snapshot applied during the press",
    "idle": "idle",
}


@dataclass
class Figures:
    """Everything measured in one run."""

    #: pilot.press until the cursor moved and pilot.pause() returned, by what the app was doing:
    #: "refreshing" (collector thread busy at the press), "applying" (a snapshot applied during the
    #: press) or "idle".
    pilot: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    #: pilot.press until the table first redrew a line with the cursor moved (the user-visible lag).
    repaint: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    refresh_seconds: list[float] = field(default_factory=list)
    apply_seconds: list[float] = field(default_factory=list)
    sockets: int = 0
    first_snapshot_seconds: float = 0.0


def merged(by_kind: dict[str, list[float]]) -> list[float]:
    return [x for xs in by_kind.values() for x in xs]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def line(name: str, values: list[float]) -> str:
    if not values:
        return f"    {name:<44} (none)"
    ms = [v * 1000 for v in values]
    return (
        f"    {name:<44} n={len(ms):<4} p50 {percentile(ms, 50):7.1f}  p99 {percentile(ms, 99):7.1f}  "
        f"max {max(ms):7.1f}  ms"
    )


def collecting(app: SockuiApp) -> bool:
    """True while a refresh runs in the collector worker thread."""
    return any(w.group == "collect" and not w.is_finished for w in app.workers)


async def wait_for(pilot: Pilot[Any], predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


class RepaintClock:
    """Wraps the table's ``render_line`` to note when it last drew a line (a repaint)."""

    def __init__(self, table: SocketTable) -> None:
        self.last = 0.0
        original = table.render_line

        def render_line(y: int) -> Strip:
            self.last = time.perf_counter()
            return original(y)

        table.render_line = render_line  # type: ignore[method-assign]


async def press_down(pilot: Pilot[Any], table: SocketTable, clock: RepaintClock) -> tuple[float, float]:
    """Press ``down``; returns (press to repaint, press to cursor moved + pilot.pause() returned)."""
    before = table._cursor
    moved_at = 0.0

    async def watch() -> None:
        nonlocal moved_at
        while table._cursor == before:
            await asyncio.sleep(0.0005)
        moved_at = time.perf_counter()

    watcher = asyncio.create_task(watch())
    t0 = time.perf_counter()
    await pilot.press("down")
    await watcher
    while clock.last < moved_at:  # the redraw follows the cursor move at the next screen update
        await asyncio.sleep(0.0005)
    repainted = clock.last - t0
    await pilot.pause()
    return repainted, time.perf_counter() - t0


async def measure(app: SockuiApp, presses: int, figures: Figures) -> None:
    """Press ``down`` ``presses`` times in a running app, classifying each press."""

    def hook(message: Message) -> None:
        if isinstance(message, SnapshotReady):
            figures.refresh_seconds.append(message.snapshot.duration)
            figures.sockets = len(message.snapshot.sockets)

    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        start = time.perf_counter()
        await wait_for(pilot, lambda: app.snapshots_applied > 0, 120.0, "the first snapshot")
        figures.first_snapshot_seconds = time.perf_counter() - start

        main = app.main
        original = main.apply_snapshot

        def timed_apply(*args: Any, **kwargs: Any) -> None:
            t0 = time.perf_counter()
            original(*args, **kwargs)
            figures.apply_seconds.append(time.perf_counter() - t0)

        main.apply_snapshot = timed_apply  # type: ignore[method-assign]
        table = main.table
        clock = RepaintClock(table)
        await pilot.press("home")
        await pilot.pause()
        done = 0
        while done < presses:
            if table._cursor >= table.row_count - 1:
                await pilot.press("home")
                await pilot.pause()
                continue
            before_applied = app.snapshots_applied
            was_collecting = collecting(app)
            repaint, whole = await press_down(pilot, table, clock)
            if app.snapshots_applied != before_applied:
                kind = "applying"
            elif was_collecting:
                kind = "refreshing"
            else:
                kind = "idle"
            figures.repaint[kind].append(repaint)
            figures.pilot[kind].append(whole)
            done += 1


class StillSource:
    """A baseline: the same small snapshot every time, nearly free to collect."""

    def collect(self) -> Snapshot:
        return Snapshot(sockets=tuple(_still_rows()), taken_at=time.time(), duration=0.0)

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        pass


def _still_rows() -> list[SocketRecord]:
    return [
        SocketRecord(
            proto=Proto.TCP,
            family=Family.IPV4,
            type=SockType.STREAM,
            state="LISTEN",
            binding=Binding.LISTENING,
            local=InetEndpoint("127.0.0.1", 1000 + i),
            remote=None,
            inode=i + 1,
            uid=0,
            cookie=i + 1,
        )
        for i in range(100)
    ]


def report(title: str, figures: Figures) -> None:
    print(title)
    print("  key press to repaint (the table redrew with the cursor moved):")
    print(line("all presses", merged(figures.repaint)))
    for kind, label in LABELS.items():
        print(line(label, figures.repaint[kind]))
    print("  pilot.press until cursor moved and pilot.pause() returned (includes Pilot's CPU-idle wait):")
    print(line("all presses", merged(figures.pilot)))
    for kind, label in LABELS.items():
        print(line(label, figures.pilot[kind]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--presses", type=int, default=400)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args(argv)

    baseline = Figures()
    asyncio.run(measure(SockuiApp(interval=args.interval, source=StillSource), 100, baseline))

    print(f"building {args.connections} loopback connections…", file=sys.stderr)
    figures = Figures()
    try:
        with Scenario.build(args.connections, progress=True) as sc:
            built = f"built in {sc.build_seconds:.1f}s"
            print(f"scenario: {sc.sockets} sockets in {len(sc.children)} children, {built}")
            asyncio.run(measure(SockuiApp(interval=args.interval), args.presses, figures))
    except ScenarioError as exc:
        print(f"scenario: {exc}", file=sys.stderr)
        return 1
    print(f"sockets seen by the app: {figures.sockets} (whole machine)")
    print(f"first snapshot on screen after {figures.first_snapshot_seconds:.2f}s (cold collector)")
    report("baseline: 100 still rows, refreshes that cost nothing (Pilot's own overhead)", baseline)
    report(f"at scale: {args.presses} presses of 'down', refresh interval {args.interval}s", figures)
    print("refresh cost:")
    print(line("snapshot.duration (warm refreshes, worker)", figures.refresh_seconds[1:]))
    print(line("apply_snapshot (UI thread)", figures.apply_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
