"""Benchmark: sockui's socket snapshot against ``ss -tuanxp``, side by side, in one run.

What it measures (docs/spec.md section 8):

a. a full snapshot with owners from a cold start: a new ``Collector()`` and one ``.collect()``, so no
   owner map is carried over (target: no slower than ``ss -tuanxp`` at 10k connections, 3x faster at
   50k);
b. a refresh with the owner map kept: one ``Collector`` created and warmed once before the rounds,
   then ``.collect()`` alone (target: at most 0.3x of ``ss -tuanxp``);
c. ``ss -tuanxp`` as a subprocess writing to a pipe that we read to the end, as a user piping it
   into ``grep`` or ``less`` would (wall time of the whole run, exec included);
d. ``ss -tuanx`` (no owners) the same way, for reference: the gap between c and d is what owner
   lookup costs ss;
e. b with tcp_info asked for in the dumps, as the TUI does while the Rate column or its sort is on:
   the gap between b and e is what rates cost.

The machine state is a real scenario (see ``scenario.py``): N loopback TCP connections, i.e. 2N
established sockets plus listeners on several 127.0.0.1 and ::1 ports, held by helper processes
because one process may not hold more than 20000 descriptors. The benchmark process holds none of
them, so both tools have to find every owner in other processes' fd tables, as in real life.

sockui is timed in-process (that is how the app refreshes; the interpreter start-up is not part of a
refresh) while ss is timed as a process (that is how it is used). Rounds are interleaved, with the
order rotated each round, so that drift on the machine hits every measurement alike; a
``gc.collect()`` runs before each timed call (outside the timing) so that one measurement does not
pay for the garbage of another. Each table row gives the median and minimum over the rounds, the
number of sockets sockui reported and the number of lines ss printed (header excluded), so that a
reader sees both tools saw the same scale.

Run: ``python bench/bench_snapshot.py [--connections 10000] [--rounds 7] [--json]``.

``--existing`` builds no scenario and measures the sockets already on the machine (a scenario held
open by ``scenario.py`` or by ``results.py``, or a real server); ``--connections`` then only says
which targets apply.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# bench/ is not a package: make scenario.py importable, and benchmark the sockui of this work tree
# even when it is not installed in the running interpreter.
_BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(_BENCH), str(_BENCH.parent)]

from scenario import (  # noqa: E402
    DEFAULT_CONNECTIONS_PER_PORT,
    DEFAULT_MAX_FDS_PER_CHILD,
    Scenario,
    ScenarioError,
)

#: Spec targets for sockui/ss ratios (docs/spec.md section 8), by number of connections.
COLD_TARGETS: dict[int, float] = {10_000: 1.0, 50_000: 1.0 / 3.0}
REFRESH_TARGET = 0.3

COLD = "sockui cold snapshot"
WARM = "sockui refresh (owners kept)"
RATES = "sockui refresh, Rate on"
SS_P = "ss -tuanxp"
SS = "ss -tuanx"

#: A timed measurement: runs once and returns how many sockets/lines it saw.
Probe = Callable[[], int]


@dataclass(slots=True)
class Result:
    """Timings and seen-socket counts of one measurement over all rounds."""

    name: str
    seconds: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000.0

    @property
    def min_ms(self) -> float:
        return min(self.seconds) * 1000.0

    @property
    def count(self) -> int:
        """The median count (counts drift by a few sockets as the machine lives)."""
        return int(statistics.median(self.counts))


@dataclass(frozen=True, slots=True)
class Ratio:
    """A sockui/ss median ratio with its target."""

    name: str
    ratio: float
    target: float
    target_note: str

    @property
    def met(self) -> bool:
        return self.ratio <= self.target


# -- probes ------------------------------------------------------------------------------------------


def ss_probe(ss: str, flags: str) -> Probe:
    """Run ss with ``flags`` writing to a pipe, read all of it; returns the lines printed."""
    cmd = [ss, flags]

    def run() -> int:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout
        return max(0, out.count(b"\n") - 1)  # minus the header line

    return run


def sockui_probes() -> tuple[Probe, Probe, Probe] | str:
    """The cold, warm and warm-with-tcp_info sockui probes, or why they are unavailable."""
    try:
        from sockui.collect.snapshot import Collector
    except ImportError as exc:
        return f"sockui collector not importable ({exc})"

    def cold() -> int:
        return len(Collector().collect().sockets)

    warm_collector = Collector()
    warm_collector.collect()  # warm up: builds the owner map the refreshes keep

    def warm() -> int:
        return len(warm_collector.collect().sockets)

    rates_collector = Collector(tcp_info_wanted=lambda: True)
    rates_collector.collect()

    def rates() -> int:
        return len(rates_collector.collect().sockets)

    return cold, warm, rates


def measure(probes: dict[str, Probe], rounds: int) -> dict[str, Result]:
    """Run every probe once untimed, then ``rounds`` interleaved timed rounds, rotating the order."""
    results = {name: Result(name) for name in probes}
    names = list(probes)
    for name in names:
        probes[name]()  # warm caches (page cache for ss, imports and dentries for sockui)
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            gc.collect()
            start = time.perf_counter()
            count = probes[name]()
            elapsed = time.perf_counter() - start
            results[name].seconds.append(elapsed)
            results[name].counts.append(count)
    return results


# -- targets -----------------------------------------------------------------------------------------


def cold_target(connections: int) -> tuple[float, str]:
    """The cold-snapshot target at ``connections``: exact at 10k and 50k, interpolated in between."""
    points = sorted(COLD_TARGETS.items())
    if connections in COLD_TARGETS:
        return COLD_TARGETS[connections], f"spec @{connections // 1000}k"
    if connections <= points[0][0]:
        return points[0][1], f"spec @{points[0][0] // 1000}k"
    if connections >= points[-1][0]:
        return points[-1][1], f"spec @{points[-1][0] // 1000}k"
    (n0, t0), (n1, t1) = points[0], points[-1]
    return t0 + (t1 - t0) * (connections - n0) / (n1 - n0), "interpolated"


def ratios(results: dict[str, Result], connections: int) -> list[Ratio]:
    """sockui/ss-tuanxp ratios of the medians, with their targets."""
    if SS_P not in results or COLD not in results:
        return []
    base = results[SS_P].median_ms
    target, note = cold_target(connections)
    return [
        Ratio(COLD, results[COLD].median_ms / base, target, note),
        Ratio(WARM, results[WARM].median_ms / base, REFRESH_TARGET, "spec"),
    ]


# -- output ------------------------------------------------------------------------------------------


def ss_version(ss: str) -> str:
    """``ss -V`` output, e.g. ``iproute2-6.1.0``."""
    try:
        out = subprocess.run([ss, "-V"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.strip().rsplit(" ", 1)[-1] or "unknown"


def environment(ss: str) -> dict[str, Any]:
    """Facts about the machine that a reader needs to compare runs."""
    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "ss": ss_version(ss),
    }


def print_table(
    scenario: Scenario | None,
    background: int,
    env: dict[str, Any],
    rounds: int,
    results: dict[str, Result],
    rats: list[Ratio],
    note: str | None,
) -> None:
    """The human-readable report."""
    if scenario is None:
        print(f"no scenario built (--existing): {background} sockets on the machine (ss -tuanx)")
    else:
        listeners = scenario.listeners
        families = "/".join(sorted({h for h, _ in listeners}, key=lambda h: ":" in h))
        print(
            f"scenario: {scenario.connections} TCP connections, {scenario.sockets} sockets "
            f"({len(listeners)} listeners on {families}) in {len(scenario.children)} helper processes, "
            f"built in {scenario.build_seconds:.2f} s; {background} other sockets were already there"
        )
    print(
        f"machine:  Linux {env['kernel']}, {env['cpus']} CPUs, Python {env['python']}, "
        f"ss {env['ss']}; {rounds} interleaved rounds"
    )
    print()
    by_name = {r.name: r for r in rats}
    header = f"{'measurement':<30} {'median ms':>10} {'min ms':>9} {'sockets':>9}  {'ratio':>6}  target"
    print(header)
    print("-" * (len(header) + 22))
    for res in results.values():
        rat = by_name.get(res.name)
        if rat is not None:
            verdict = "ok" if rat.met else "MISSED"
            tail = f"{rat.ratio:>5.2f}x  <= {rat.target:.2f}x ({rat.target_note}) {verdict}"
        elif res.name == SS_P:
            tail = f"{1.0:>5.2f}x  (baseline)"
        elif SS_P in results:
            tail = f"{res.median_ms / results[SS_P].median_ms:>5.2f}x  (reference)"
        else:
            tail = ""
        print(f"{res.name:<30} {res.median_ms:>10.1f} {res.min_ms:>9.1f} {res.count:>9}  {tail}")
    print()
    print("ratio = median / median of ss -tuanxp; sockets = records sockui returned, lines ss printed")
    if note:
        print(f"note: {note}")


def as_json(
    scenario: Scenario | None,
    background: int,
    env: dict[str, Any],
    rounds: int,
    results: dict[str, Result],
    rats: list[Ratio],
    note: str | None,
) -> dict[str, Any]:
    """The machine-readable report."""
    return {
        "scenario": None
        if scenario is None
        else {
            "connections": scenario.connections,
            "sockets": scenario.sockets,
            "helpers": len(scenario.children),
            "listeners": [{"host": h, "port": p} for h, p in scenario.listeners],
            "build_seconds": round(scenario.build_seconds, 4),
            "background_sockets": background,
        },
        "existing_sockets": background if scenario is None else None,
        "environment": env,
        "rounds": rounds,
        "results": [
            {
                "name": res.name,
                "median_ms": round(res.median_ms, 3),
                "min_ms": round(res.min_ms, 3),
                "count": res.count,
                "samples_ms": [round(s * 1000.0, 3) for s in res.seconds],
            }
            for res in results.values()
        ],
        "ratios": [{**asdict(r), "ratio": round(r.ratio, 4), "met": r.met} for r in rats],
        "note": note,
    }


# -- main --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000, help="loopback TCP connections")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per measurement")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-plain-ss", action="store_true", help="skip the ss -tuanx reference run")
    parser.add_argument("--no-ipv6", action="store_true", help="listen on 127.0.0.1 only")
    parser.add_argument("--ss", default="ss", help="ss binary (default: ss from PATH)")
    parser.add_argument("--max-fds-per-child", type=int, default=DEFAULT_MAX_FDS_PER_CHILD)
    parser.add_argument("--connections-per-port", type=int, default=DEFAULT_CONNECTIONS_PER_PORT)
    parser.add_argument("--build-timeout", type=float, default=300.0, help="seconds to build the scenario")
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")
    parser.add_argument(
        "--existing", action="store_true", help="build no scenario: measure the sockets already there"
    )
    args = parser.parse_args(argv)
    if args.connections < 1 or args.rounds < 1:
        parser.error("--connections and --rounds must be at least 1")
    return args


def measure_and_report(
    args: argparse.Namespace, ss: str, scenario: Scenario | None, background: int
) -> tuple[str | None, list[Ratio]]:
    """Measure the machine as it is now and print the report; returns the note and the ratios."""
    log = sys.stderr
    note: str | None = None
    probes: dict[str, Probe] = {}
    found = sockui_probes()
    if isinstance(found, str):
        note = f"{found}: only ss was measured"
        print(f"warning: {note}", file=log)
    else:
        probes[COLD], probes[WARM], probes[RATES] = found
    probes[SS_P] = ss_probe(ss, "-tuanxp")
    if not args.no_plain_ss:
        probes[SS] = ss_probe(ss, "-tuanx")
    results = measure(probes, args.rounds)
    env = environment(ss)
    rats = ratios(results, args.connections)
    if args.json:
        report = as_json(scenario, background, env, args.rounds, results, rats, note)
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print_table(scenario, background, env, args.rounds, results, rats, note)
    return note, rats


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ss = shutil.which(args.ss)
    if ss is None:
        print(f"bench: {args.ss} not found", file=sys.stderr)
        return 2
    # SIGINT (even if inherited as ignored, as in background jobs) and SIGTERM unwind as
    # KeyboardInterrupt, so the scenario's helpers are always torn down.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    log = sys.stderr
    try:
        # Sockets already on the machine are counted by both tools too: say how many there were.
        background = ss_probe(ss, "-tuanx")()
        if args.existing:
            print(f"measuring the {background} sockets already there...", file=log, flush=True)
            note, rats = measure_and_report(args, ss, None, background)
        else:
            print(f"building {args.connections} loopback connections...", file=log, flush=True)
            with Scenario.build(
                args.connections,
                max_fds_per_child=args.max_fds_per_child,
                connections_per_port=args.connections_per_port,
                ipv6=not args.no_ipv6,
                timeout=args.build_timeout,
            ) as scenario:
                print(f"built in {scenario.build_seconds:.2f} s; measuring...", file=log, flush=True)
                note, rats = measure_and_report(args, ss, scenario, background)
    except KeyboardInterrupt:
        print("interrupted; helpers stopped", file=log)
        return 130
    except ScenarioError as exc:
        print(f"bench: scenario failed: {exc}", file=log)
        return 2
    if note is not None:
        return 3
    if args.check and not all(r.met for r in rats):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
