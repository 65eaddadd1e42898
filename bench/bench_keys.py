"""Benchmark: key press to repaint in the TUI, while refreshes run, without Pilot's idle waits.

``bench_ui.py`` drives keys with Pilot, whose ``press`` waits for the whole process to be CPU-idle,
which stretches what it measures whenever the collector thread is busy. This one sends keys with
``App.simulate_key`` (the same path a terminal key takes: bindings, then the focused widget) and times
from the send until the table has moved its cursor and repainted a line, classing each press by
whether the refresh worker was running when it was sent.

Run: ``python bench/bench_keys.py [--connections 10000] [--presses 300] [--interval 0.5]``.
Prints p50/p99/max in ms. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

from scenario import Scenario  # noqa: E402
from textual.strip import Strip  # noqa: E402

from sockui.app import SockuiApp  # noqa: E402


def summary(name: str, values: list[float]) -> str:
    """One line of percentiles."""
    if not values:
        return f"  {name:<24} (none)"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"  {name:<24} n={len(values):<4} p50 {statistics.median(values):6.1f}  "
        f"p99 {p99:6.1f}  max {max(values):6.1f} ms"
    )


async def measure(presses: int, interval: float) -> tuple[list[float], list[float], list[float]]:
    """Press ``down`` ``presses`` times; return (idle, busy) latencies and refresh costs."""
    app = SockuiApp(interval=interval)
    idle: list[float] = []
    busy: list[float] = []
    async with app.run_test(size=(160, 45)):
        while not app.snapshots_applied:
            await asyncio.sleep(0.05)
        table = app.main.table
        painted = [0.0]
        render_line = table.render_line

        def timed_render_line(y: int) -> Strip:
            painted[0] = time.perf_counter()
            return render_line(y)

        table.render_line = timed_render_line  # type: ignore[method-assign]
        for _ in range(presses):
            before = table.cursor_record
            running = any(w.group == "collect" and w.is_running for w in app.workers)
            sent = time.perf_counter()
            app.simulate_key("down")
            while table.cursor_record is before or painted[0] < sent:
                await asyncio.sleep(0.0005)
            (busy if running else idle).append((painted[0] - sent) * 1000)
            await asyncio.sleep(0.02)
            if table.cursor_record is table.records()[-1]:
                app.simulate_key("home")
                await asyncio.sleep(0.05)
        costs = [app.main.snapshot.duration * 1000] if app.main.snapshot else []
    return idle, busy, costs


def main() -> int:
    """Build the scenario, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--presses", type=int, default=300)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    with Scenario.build(args.connections) as scenario:
        print(f"{args.connections} connections ({scenario.sockets} sockets), refresh every {args.interval} s")
        idle, busy, costs = asyncio.run(measure(args.presses, args.interval))
    print("key press to repaint:")
    print(summary("refresh worker idle", idle))
    print(summary("refresh worker running", busy))
    print(summary("all presses", idle + busy))
    if costs:
        print(f"  last refresh cost        {costs[0]:.0f} ms (in the worker)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
