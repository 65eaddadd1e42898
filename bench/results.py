"""Regenerate ``bench/RESULTS.md`` (and the raw ``bench/results.json``): sockui next to ``ss``.

One command, ``python bench/results.py``, measures what docs/spec.md section 8 sets targets for and
writes the tables. For each N in ``--connections`` (default 1k, 10k, 50k) it builds ONE scenario of
N real loopback TCP connections (``scenario.py``: 2N established sockets plus listeners, held by
helper processes) and, inside it, side by side so that every ratio compares runs made on the same
machine state a few seconds apart:

1. Whole processes, as a user runs them, each writing to a pipe that is read to the end:
   ``ss -tuanxp`` (the baseline), ``ss -tuanx``, ``sockui --once`` and ``sockui --once`` with
   ``--json``, ``--jsonl`` and ``--csv``. Wall time (exec and interpreter start-up included): median
   of ``--runs`` interleaved rounds, order rotated each round, after one untimed warm-up; peak RSS:
   median of ``--rss-runs`` runs under GNU ``time -f %M``. This is ``bench_tui.side_by_side``. A
   reference row, ``sockui --version``, shows what any ``--once`` pays before it collects anything
   (interpreter start-up, the CLI's imports): the floor of the small-N ratios.
2. In process: ``sockui.collect.snapshot.Collector``, a cold snapshot (a new collector each time)
   and a refresh with the owner map kept (one warmed collector), median of ``--rounds`` rounds
   interleaved with ``ss -tuanxp`` and ``ss -tuanx``. This is ``bench_snapshot.py --existing
   --json`` run in a fresh interpreter (so that nothing of this process, its size or its threads,
   changes what the collector does: it forks its fd walker only while single-threaded).

Then, at the largest N only (``--tui-connections``), the TUI in tmux: ``bench_tui.py --json-file``
(time to first table, refresh cost from the status line, RSS at first table and after ``--soak``
seconds, key-to-screen latency overall and during a refresh). bench_tui builds its own scenario of
the same size once the one above is torn down (two at once would double the sockets); its own
whole-process comparison is kept as a cross-check of run-to-run variance.

Why whole processes and not only in-process calls: what a user waits for is ``sockui --once |
...`` start to end, interpreter start-up, imports, sorting, formatting and writing included. An
in-process figure once hid a 3x gap to ``ss``. The in-process figures are here to tell where the time
goes; the ``--once`` targets are judged on whole processes only.

The markdown gets a header of machine facts (kernel, CPUs, Python, tmux, ss, the sockui commit with
``-dirty`` when the work tree has changes), one table per N, the in-process table, the TUI figures,
the targets with met/missed, and caveats found in the data (wide spreads, load on the machine,
sources edited during the run). ``--from-json`` re-renders the markdown from a saved results.json.

Progress goes to stderr. Everything is torn down on success, failure and Ctrl-C (SIGINT, SIGTERM,
SIGHUP): the scenario helpers, the ``sockui``/``ss`` runs (each its own process group), and the
bench_snapshot/bench_tui children, which get one SIGINT and time to tear down their own tmux
servers and scenarios (then SIGKILL, and their tmux servers are killed by name).

Run: ``python bench/results.py`` (~9 min on 2 cores), ``--quick`` (1k only, few presses, short soak; writes
to a temporary directory unless ``--markdown``/``--json-out`` say otherwise).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_BENCH = Path(__file__).resolve().parent
_ROOT = _BENCH.parent
sys.path[:0] = [str(_BENCH)]

import bench_snapshot  # noqa: E402
import bench_tui  # noqa: E402
import soak  # noqa: E402
from scenario import Scenario, ScenarioError  # noqa: E402

DEFAULT_CONNECTIONS = (1_000, 10_000, 50_000)
#: The reference row: a sockui process that starts, parses its arguments and exits.
STARTUP = "sockui --version (start-up)"
QUICK_CONNECTIONS = (1_000,)
#: Spec targets (docs/spec.md section 8).
ONCE_RATIO_TARGETS: dict[int, tuple[float, str]] = {10_000: (1.0, "1.00x"), 50_000: (1.0 / 3.0, "0.33x")}
RSS_TARGET_N = 50_000
RSS_TARGET_KIB = 150 * 1024
REFRESH_RATIO_TARGET = bench_snapshot.REFRESH_TARGET
TUI_TARGET_N = 50_000
FIRST_TABLE_TARGET_S = 2.5
REFRESH_COST_TARGET_MS = 1500.0
KEY_P99_TARGET_MS = 50.0
#: A measurement whose samples spread more than this share of their median gets a caveat.
SPREAD_CAVEAT = 0.25
#: CPU used by other processes (or stolen by the hypervisor), in cores, above which a section gets
#: a caveat: the ratios compare runs made side by side, but competing work widens the spread.
OTHER_CPU_CAVEAT = 0.1
#: Seconds a child benchmark gets to tear itself down after SIGINT before SIGKILL.
CHILD_GRACE_S = 60.0
#: Output files written by this script: not counted as changes to the work tree.
OUTPUTS = ("bench/RESULTS.md", "bench/results.json")

_T0 = time.monotonic()


def log(message: str) -> None:
    elapsed = time.monotonic() - _T0
    print(f"[{int(elapsed // 60):02d}:{elapsed % 60:04.1f}] {message}", file=sys.stderr, flush=True)


# -- machine facts -------------------------------------------------------------------------------------


def first_line(argv: list[str]) -> str:
    """First line of a command's output (stdout, else stderr), or ``unknown``."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def git_state() -> dict[str, Any]:
    """``git rev-parse --short HEAD``, plus ``-dirty`` when anything but our outputs changed."""
    commit = first_line(["git", "-C", str(_ROOT), "rev-parse", "--short", "HEAD"])
    try:
        out = subprocess.run(
            ["git", "-C", str(_ROOT), "status", "--porcelain"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    changed = [line[3:] for line in out.splitlines() if line[3:] not in OUTPUTS]
    return {
        "commit": commit,
        "dirty": bool(changed),
        "revision": commit + ("-dirty" if changed else ""),
        "changed": changed,
    }


def sources_digest() -> str:
    """A hash of every file under sockui/ (tracked or not): tells whether sources changed mid-run."""
    digest = hashlib.sha256()
    for path in sorted((_ROOT / "sockui").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(_ROOT)).encode() + b"\0")
            with contextlib.suppress(OSError):
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def mem_total_kib() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return []


class CpuMeter:
    """CPU the rest of the machine used while a section ran, in cores (CPU seconds per second).

    ``/proc/stat`` gives the whole machine's busy and steal time; this process and its waited-for
    children (every measured run, the child benchmarks, the scenario helpers once torn down) are
    subtracted via ``getrusage``. What is left is other work competing for the CPUs (plus kernel
    work not charged to a process, e.g. softirqs for loopback traffic: small here). Steal is time the
    hypervisor gave to other guests; high steal makes a VM's figures noisy whatever this does.
    """

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.busy, self.steal = self.machine()
        self.ours = self.own()

    @staticmethod
    def machine() -> tuple[float, float]:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return 0.0, 0.0
        tick = os.sysconf("SC_CLK_TCK")
        user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        return (user + nice + system + irq + softirq) / tick, steal / tick

    @staticmethod
    def own() -> float:
        total = 0.0
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
            usage = resource.getrusage(who)
            total += usage.ru_utime + usage.ru_stime
        return total

    def stop(self) -> dict[str, float]:
        wall = max(time.monotonic() - self.started, 1e-9)
        busy, steal = self.machine()
        ours = self.own() - self.ours
        return {
            "wall_s": round(wall, 1),
            "own_cores": round(ours / wall, 3),
            "other_cores": round(max(0.0, busy - self.busy - ours) / wall, 3),
            "steal_cores": round((steal - self.steal) / wall, 3),
        }


def environment(sockui: str, ss: str) -> dict[str, Any]:
    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "mem_total_kib": mem_total_kib(),
        "python": platform.python_version(),
        "tmux": first_line(["tmux", "-V"]),
        "ss": bench_snapshot.ss_version(ss),
        "sockui_version": first_line([sockui, "--version"]),
        "sockui_script": sockui,
        "git": git_state(),
        "sources_digest": sources_digest(),
    }


# -- children: bench_snapshot.py and bench_tui.py ------------------------------------------------------


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """While a child tears down: a second Ctrl-C must not abort the wait for it."""
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.getsignal(s) for s in sigs}
    for s in sigs:
        signal.signal(s, signal.SIG_IGN)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def kill_tmux_servers_of(pid: int) -> None:
    """bench_tui names its tmux servers ``sockui-bench-<its pid>-...``: kill what it left behind."""
    sockets = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
    for path in sockets.glob(f"sockui-bench-{pid}-*"):
        log(f"  killing leftover tmux server {path.name}")
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["tmux", "-L", path.name, "kill-server"], capture_output=True, timeout=10)
        path.unlink(missing_ok=True)


def stop_child(proc: subprocess.Popen[bytes]) -> None:
    """One SIGINT (the child's own teardown runs), then SIGKILL to its process group if it hangs."""
    with signals_ignored():
        if proc.poll() is None:
            log(f"  stopping child benchmark {proc.pid}...")
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=CHILD_GRACE_S)
            except subprocess.TimeoutExpired:
                log("  it did not stop in time: SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        kill_tmux_servers_of(proc.pid)


def run_child(argv: list[str], capture: bool) -> tuple[int, bytes]:
    """Run a child benchmark in its own session (so a terminal Ctrl-C reaches only us, and we stop
    it in order); its stderr (progress) passes through. Returns the exit status and its stdout."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        env=bench_tui.launch_env(),
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate()
    except BaseException:
        stop_child(proc)
        raise
    return proc.returncode, out or b""


def in_process(connections: int, rounds: int) -> dict[str, Any]:
    """``bench_snapshot.py --existing --json`` in a fresh interpreter, in the scenario as it is."""
    argv = [
        sys.executable,
        str(_BENCH / "bench_snapshot.py"),
        "--existing",
        "--json",
        "--rounds",
        str(rounds),
        "--connections",
        str(connections),
    ]
    status, out = run_child(argv, capture=True)
    if status not in (0, 3):
        return {"error": f"bench_snapshot.py exited with status {status}"}
    try:
        report: dict[str, Any] = json.loads(out)
    except ValueError as exc:
        return {"error": f"bench_snapshot.py printed no JSON ({exc})"}
    return report


def tui(args: argparse.Namespace, connections: int) -> dict[str, Any]:
    """``bench_tui.py --json-file``: the TUI in tmux, in bench_tui's own scenario of this size."""
    with tempfile.TemporaryDirectory(prefix="sockui-results-") as tmp:
        out = Path(tmp) / "tui.json"
        argv = [
            sys.executable,
            str(_BENCH / "bench_tui.py"),
            "--connections", str(connections),
            "--json-file", str(out),
            "--presses", str(args.presses),
            "--floor-presses", str(args.floor_presses),
            "--soak", str(args.soak),
            "--refresh-window", str(args.refresh_window),
            "--runs", str(args.runs),
            "--rss-runs", str(args.rss_runs),
            "--build-timeout", str(args.build_timeout),
            "--sockui", args.sockui,
            "--ss", args.ss,
        ]  # fmt: skip
        if args.no_cross_check:
            argv.append("--no-side-by-side")
        status, _ = run_child(argv, capture=False)
        if not out.exists():
            return {"error": f"bench_tui.py exited with status {status} and wrote no results"}
        report: dict[str, Any] = json.loads(out.read_text())
    report["exit_status_of_bench"] = status
    return report


# -- one N ---------------------------------------------------------------------------------------------


def command_json(command: bench_tui.Command, base_ms: float | None) -> dict[str, Any]:
    median = command.median_ms
    return {
        "name": command.name,
        "argv": command.argv,
        "median_ms": round(median, 3) if median is not None else None,
        "samples_ms": [round(s * 1000, 3) for s in command.seconds],
        "ratio_vs_ss_p": round(median / base_ms, 4) if median is not None and base_ms else None,
        "maxrss_kib": command.maxrss_kib,
        "maxrss_samples_kib": command.maxrss_samples_kib,
        "lines": int(statistics.median(command.lines)) if command.lines else None,
        "bytes": int(statistics.median(command.sizes)) if command.sizes else None,
        "failures": command.failures,
    }


def measure_size(args: argparse.Namespace, connections: int) -> dict[str, Any]:
    """One scenario of ``connections``; whole processes, then in process, side by side."""
    result: dict[str, Any] = {"connections": connections, "load_before": loadavg()}
    cpu_meter = CpuMeter()
    result["background_sockets"] = bench_snapshot.ss_probe(args.ss, "-tuanx")()
    log(f"{connections} connections: building the scenario...")
    started = time.monotonic()
    with Scenario.build(connections, timeout=args.build_timeout) as sc:
        result["scenario"] = {
            "connections": sc.connections,
            "sockets": sc.sockets,
            "helpers": len(sc.children),
            "listeners": len(sc.listeners),
            "build_seconds": round(sc.build_seconds, 3),
        }
        log(f"  {sc.sockets} sockets in {len(sc.children)} helpers, built in {sc.build_seconds:.1f} s")
        log(f"  whole processes: {args.runs} rounds, then {args.rss_runs} peak-RSS runs of each...")
        commands = bench_tui.default_commands(args.sockui, args.ss)
        # Reference: interpreter start-up and the CLI's imports, no snapshot; what any --once pays.
        commands.append(bench_tui.Command(STARTUP, [args.sockui, "--version"]))
        commands, meter = bench_tui.side_by_side(
            args.sockui, args.ss, args.runs, args.rss_runs, commands=commands
        )
        base = commands[0].median_ms
        result["whole_processes"] = [command_json(c, base) for c in commands]
        result["rss_wrapper"] = {"wrapper": meter.wrapper, "floor_kib": meter.floor_kib}
        for c in commands:
            log(f"    {c.name:<22} {bench_tui.fmt_ms(c.median_ms):>8} ms  {bench_tui.mib(c.maxrss_kib)}")
        log(f"  in process: {args.rounds} rounds (bench_snapshot.py --existing)...")
        result["in_process"] = in_process(connections, args.rounds)
        for row in result["in_process"].get("results", []):
            log(f"    {row['name']:<30} {row['median_ms']:>8.1f} ms")
        log("  tearing the scenario down")
    result["load_after"] = loadavg()
    result["cpu"] = cpu_meter.stop()
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


# -- targets -------------------------------------------------------------------------------------------


def fmt_ratio(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}x"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def fmt_mib(kib: float | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


def by_connections(data: dict[str, Any], connections: int) -> dict[str, Any] | None:
    return next((s for s in data["sizes"] if s["connections"] == connections), None)


def target(what: str, measured: str, met: bool | None) -> dict[str, Any]:
    return {"target": what, "measured": measured, "met": met}


def evaluate_targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every section-8 target with what was measured; ``met`` is None when it was not measured."""
    rows: list[dict[str, Any]] = []
    for n, (limit, shown) in ONCE_RATIO_TARGETS.items():
        size = by_connections(data, n)
        names = [c["name"] for c in size["whole_processes"]] if size else []
        for name in names or ["sockui --once (every format)"]:
            if "--once" not in name:
                continue
            what = f"`{name}` ≤ {shown} `ss -tuanxp`, whole process, at {n // 1000}k"
            row = next((c for c in size["whole_processes"] if c["name"] == name), None) if size else None
            if row is None or row["ratio_vs_ss_p"] is None:
                rows.append(target(what, "—", None))
                continue
            ss_p = size["whole_processes"][0]["median_ms"] if size else None
            rows.append(
                target(
                    what,
                    f"{row['ratio_vs_ss_p']:.3f}x ({fmt_ms(row['median_ms'])} vs {fmt_ms(ss_p)})",
                    row["ratio_vs_ss_p"] <= limit,
                )
            )
    size = by_connections(data, RSS_TARGET_N)
    measured: list[dict[str, Any]] = size["whole_processes"] if size else []
    for c in measured or [{"name": "sockui --once (every format)", "maxrss_kib": None}]:
        if "--once" not in c["name"]:
            continue
        what = f"peak RSS of `{c['name']}` < 150 MiB at {RSS_TARGET_N // 1000}k"
        kib: int | None = c["maxrss_kib"]
        rows.append(target(what, fmt_mib(kib), None if kib is None else kib < RSS_TARGET_KIB))
    for size in data["sizes"]:
        n = size["connections"]
        what = f"refresh, owner map kept, ≤ {REFRESH_RATIO_TARGET:.1f}x `ss -tuanxp` (in process) at {n:,}"
        found = {r["name"]: r for r in size["in_process"].get("results", [])}
        warm, ss_p = found.get(bench_snapshot.WARM), found.get(bench_snapshot.SS_P)
        if warm is None or ss_p is None:
            rows.append(target(what, "—", None))
            continue
        ratio = warm["median_ms"] / ss_p["median_ms"]
        rows.append(
            target(
                what,
                f"{ratio:.3f}x ({fmt_ms(warm['median_ms'])} vs {fmt_ms(ss_p['median_ms'])})",
                ratio <= REFRESH_RATIO_TARGET,
            )
        )
    rows.extend(tui_targets(data.get("tui")))
    return rows


def tui_targets(t: dict[str, Any] | None) -> list[dict[str, Any]]:
    at = f"{TUI_TARGET_N // 1000}k"
    if t is not None and "scenario" in t and t["scenario"]["connections"] != TUI_TARGET_N:
        at = f"{t['scenario']['connections']:,} (spec: {at})"
    names = [
        f"TUI at {at}: first table ≤ {FIRST_TABLE_TARGET_S} s",
        f"TUI at {at}: refresh cost (median) ≤ {REFRESH_COST_TARGET_MS / 1000:.1f} s",
        f"TUI at {at}: RSS < 150 MiB (at first table, after the soak, peak)",
        f"TUI at {at}: key to repaint p99 < {KEY_P99_TARGET_MS:.0f} ms during a refresh",
    ]
    if t is None or "error" in t:
        why = "—" if t is None else t["error"]
        return [target(n, why, None) for n in names]
    rows: list[dict[str, Any]] = []
    first = t.get("first_table_s")
    rows.append(
        target(
            names[0],
            "n/a" if first is None else f"{first:.2f} s",
            None if first is None else first <= FIRST_TABLE_TARGET_S,
        )
    )
    cost = t.get("refresh", {}).get("cost_ms", {})
    if cost.get("n"):
        rows.append(
            target(
                names[1],
                f"{fmt_ms(cost['p50'])} (max {fmt_ms(cost['max'])}, {t['refresh']['refreshes']} refreshes)",
                cost["p50"] <= REFRESH_COST_TARGET_MS,
            )
        )
    else:
        rows.append(target(names[1], "no refresh stamp seen", None))
    rss = t.get("rss_kib", {})
    first_rss = (rss.get("first_table") or {}).get("VmRSS")
    soak_rss = (rss.get("after_soak") or {}).get("VmRSS")
    hwm = max(
        (v.get("VmHWM", 0) for v in (rss.get("first_table"), rss.get("after_soak"), rss.get("end")) if v),
        default=None,
    )
    values = [v for v in (first_rss, soak_rss, hwm) if v]
    soak_s = t.get("settings", {}).get("soak_s", 0)
    rows.append(
        target(
            names[2],
            f"{fmt_mib(first_rss)} at first table, {fmt_mib(soak_rss)} after {soak_s:.0f} s, "
            f"peak {fmt_mib(hwm)}",
            all(v < RSS_TARGET_KIB for v in values) if len(values) == 3 else None,
        )
    )
    keys = (t.get("keys") or {}).get("by_kind", {}).get("refreshing", {})
    if keys.get("n"):
        rows.append(
            target(
                names[3],
                f"p99 {keys['p99']:.1f} ms (n={keys['n']}, max {keys['max']:.1f} ms)",
                keys["p99"] < KEY_P99_TARGET_MS,
            )
        )
    else:
        rows.append(target(names[3], "no press landed during a refresh", None))
    return rows


def caveats(data: dict[str, Any]) -> list[str]:
    """What a reader should know before trusting the figures, found in the data itself."""
    out: list[str] = []
    env = data["environment"]
    if env["git"]["dirty"]:
        changed = env["git"]["changed"]
        ours = [c for c in changed if c.startswith("sockui/")]
        out.append(
            f"The work tree had uncommitted changes ({len(changed)} paths; under sockui/: "
            f"{', '.join(ours) if ours else 'none'}); the sockui measured is the tree as it was."
        )
    if data.get("sources_digest_end") and data["sources_digest_end"] != env["sources_digest"]:
        out.append("Files under sockui/ changed during the run: later sections measured other code.")
    cpus = env.get("cpus") or 1
    for size in data["sizes"]:
        n = size["connections"]
        cpu = size.get("cpu") or {}
        if cpu.get("other_cores", 0) > OTHER_CPU_CAVEAT or cpu.get("steal_cores", 0) > OTHER_CPU_CAVEAT:
            out.append(
                f"At {n:,}: other processes used {cpu['other_cores']:.2f} of {cpus} cores on average while "
                f"it ran, and the hypervisor stole {cpu['steal_cores']:.2f}: competing work."
            )
        for c in size["whole_processes"]:
            if c["failures"]:
                out.append(f"At {n:,}: `{c['name']}` failed {len(c['failures'])} time(s): {c['failures'][0]}")
            samples = c["samples_ms"]
            if len(samples) >= 2 and c["median_ms"]:
                spread = (max(samples) - min(samples)) / c["median_ms"]
                if spread > SPREAD_CAVEAT:
                    out.append(
                        f"At {n:,}: `{c['name']}` samples spread {spread:.0%} of the median "
                        f"({', '.join(f'{s:.0f}' for s in samples)} ms)."
                    )
        if "error" in size["in_process"]:
            out.append(f"At {n:,}: in-process figures missing: {size['in_process']['error']}")
    t = data.get("tui")
    if t is not None:
        if "error" in t:
            out.append(f"TUI: {t['error']}")
        elif t.get("failure"):
            out.append(f"TUI: sockui misbehaved: {t['failure']}")
        elif (t.get("keys") or {}).get("timeouts"):
            out.append(f"TUI: {t['keys']['timeouts']} key presses never reached the screen.")
    return out


# -- markdown ------------------------------------------------------------------------------------------


class Doc:
    """Markdown lines being written: ``p(text)`` adds one, ``p()`` a blank one."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        self.lines.append(text)


def render(data: dict[str, Any]) -> str:
    p = Doc()
    env = data["environment"]
    settings = data["settings"]
    minutes, seconds = divmod(int(data["run_seconds"]), 60)
    mem = env.get("mem_total_kib")
    p("# sockui benchmark results")
    p()
    p(
        "Generated by `python bench/results.py` (do not edit by hand; the raw figures are in "
        "[results.json](results.json)). What is measured and why: the docstring of "
        "[results.py](results.py) and [README.md](README.md)."
    )
    p()
    p("| | |")
    p("|---|---|")
    p(f"| date | {data['started']} (the run took {minutes} min {seconds} s) |")
    p(f"| sockui | `{env['git']['revision']}` ({env['sockui_version']}) |")
    p(
        f"| machine | Linux {env['kernel']}, {env['cpus']} CPUs ({env['cpu_model']})"
        + (f", {mem / 1024 / 1024:.1f} GiB RAM" if mem else "")
        + " |"
    )
    p(f"| Python | {env['python']} |")
    p(f"| tmux | {env['tmux'].removeprefix('tmux ')} |")
    p(f"| ss | {env['ss']} |")
    load_start, load_end = data.get("load_start") or [], data.get("load_end") or []
    if load_start and load_end:
        p(
            f"| load average (1, 5, 15 min) | {', '.join(f'{x:.2f}' for x in load_start)} at the start, "
            f"{', '.join(f'{x:.2f}' for x in load_end)} at the end |"
        )
    p(
        f"| settings | connections {', '.join(f'{n:,}' for n in settings['connections'])}; "
        f"whole processes: median of {settings['runs']} rounds, peak RSS median of {settings['rss_runs']}; "
        f"in process: median of {settings['rounds']} rounds"
        + ("; **quick smoke run**" if settings.get("quick") else "")
        + " |"
    )
    p()

    p("## Targets (docs/spec.md section 8)")
    p()
    p("| target | measured | |")
    p("|---|---|---|")
    for row in data["targets"]:
        verdict = "not measured" if row["met"] is None else "met" if row["met"] else "**missed**"
        p(f"| {row['target']} | {row['measured']} | {verdict} |")
    p()
    met = [r["met"] for r in data["targets"] if r["met"] is not None]
    p(f"{sum(met)} of {len(met)} measured targets met. MiB = 1024² bytes (VmRSS and `time -f %M` count KiB).")
    p()

    for size in data["sizes"]:
        render_size(p, size)
    render_in_process(p, data["sizes"])
    if data.get("tui") is not None:
        render_tui(p, data["tui"], data["sizes"])
    # The soak is its own 30-minute run (bench/soak.py): its last result, whenever it ran.
    soak_file = _BENCH / "soak.json"
    if soak_file.exists():
        for line in soak.render_soak(json.loads(soak_file.read_text())):
            p(line)

    notes = caveats(data)
    p("## Caveats")
    p()
    for note in notes or ["None found in the data."]:
        p(f"- {note}")
    p()
    return "\n".join(p.lines)


def render_size(p: Doc, size: dict[str, Any]) -> None:
    sc = size["scenario"]
    n = size["connections"]
    cpu = size.get("cpu")
    p(f"## {n:,} connections: whole processes")
    p()
    wrapper = size.get("rss_wrapper") or {}
    p(
        f"Scenario: {sc['connections']:,} loopback TCP connections, {sc['sockets']:,} sockets on "
        f"{sc['listeners']} listeners, held by {sc['helpers']} helper process(es), built in "
        f"{sc['build_seconds']:.1f} s; {size['background_sockets']} other sockets on the machine"
        + (
            f"; while it ran, this benchmark used {cpu['own_cores']:.2f} cores on average, other processes "
            f"{cpu['other_cores']:.2f}, hypervisor steal {cpu['steal_cores']:.2f}"
            if cpu
            else ""
        )
        + ". Each command "
        "writes to a pipe read to the end; wall time is the median of interleaved rounds after a warm-up "
        f"(all samples in brackets), peak RSS the median of runs under {wrapper.get('wrapper', '?')} "
        f"(which alone reports {fmt_mib(wrapper.get('floor_kib'))})."
    )
    p()
    p("| command | wall time | vs `ss -tuanxp` | peak RSS | output |")
    p("|---|---|---|---|---|")
    for c in size["whole_processes"]:
        if c["median_ms"] is None:
            p(f"| `{c['name']}` | failed: {'; '.join(c['failures'])[:160]} | | | |")
            continue
        samples = ", ".join(f"{s:.0f}" if s >= 100 else f"{s:.1f}" for s in c["samples_ms"])
        output = (
            f"{c['lines']:,} line{'s' if c['lines'] != 1 else ''}, {c['bytes'] / 1e6:.1f} MB"
            if c["lines"] is not None
            else "n/a"
        )
        p(
            f"| `{c['name']}` | {fmt_ms(c['median_ms'])} ({samples}) | {fmt_ratio(c['ratio_vs_ss_p'])} | "
            f"{fmt_mib(c['maxrss_kib'])} | {output} |"
        )
    p()


def render_in_process(p: Doc, sizes: list[dict[str, Any]]) -> None:
    p("## In process: `Collector` snapshot vs `ss -tuanxp`")
    p()
    p(
        "`bench_snapshot.py --existing` in a fresh interpreter, inside the same scenario as the table of "
        "its size: a cold snapshot is a new `Collector().collect()` (no owner map carried over), a refresh "
        "is `.collect()` on one warmed collector; `ss` runs as a process in the same interleaved rounds. "
        "Medians (minimum in brackets); ratios to `ss -tuanxp` of the same rounds."
    )
    p()
    p("| connections | cold snapshot | refresh, owners kept | `ss -tuanxp` | `ss -tuanx` | sockets seen |")
    p("|---|---|---|---|---|---|")
    for size in sizes:
        ip = size["in_process"]
        if "error" in ip:
            p(f"| {size['connections']:,} | {ip['error']} | | | | |")
            continue
        found = {r["name"]: r for r in ip.get("results", [])}
        base = found.get(bench_snapshot.SS_P)

        def cell(name: str, found: dict[str, Any] = found, base: dict[str, Any] | None = base) -> str:
            r = found.get(name)
            if r is None:
                return "n/a"
            text = f"{fmt_ms(r['median_ms'])} ({fmt_ms(r['min_ms'])})"
            if base is not None and name != bench_snapshot.SS_P:
                text += f", {r['median_ms'] / base['median_ms']:.2f}x"
            return text

        cold = found.get(bench_snapshot.COLD)

        def count(row: dict[str, Any] | None) -> str:
            return "n/a" if row is None else f"{row['count']:,}"

        p(
            f"| {size['connections']:,} | {cell(bench_snapshot.COLD)} | {cell(bench_snapshot.WARM)} | "
            f"{cell(bench_snapshot.SS_P)} | {cell(bench_snapshot.SS)} | "
            f"{count(cold)} / {count(base)} |"
        )
    p()
    p("sockets seen: records of the cold snapshot / lines `ss -tuanxp` printed (UNIX sockets included).")
    p()


def render_tui(p: Doc, t: dict[str, Any], sizes: list[dict[str, Any]]) -> None:
    if "error" in t:
        p("## TUI in tmux")
        p()
        p(f"Not measured: {t['error']}")
        p()
        return
    sc, st = t["scenario"], t["settings"]
    p(f"## TUI in tmux at {sc['connections']:,} connections")
    p()
    shown = t.get("sockets_shown")
    p(
        f"`bench_tui.py` on the installed `sockui --interval {st['interval']}` in a private tmux server "
        f"({st['size'][0]}x{st['size'][1]}), in its own scenario of the same size "
        f"({sc['sockets']:,} sockets, built in {sc['build_seconds']:.1f} s after the one above was torn down)"
        + (f"; the table listed {shown[1]:,} sockets" if shown else "")
        + f". {st['presses']} Down/Up presses 50-300 ms apart, seed {st['seed']}."
    )
    p()
    p("| measurement | value |")
    p("|---|---|")
    first = t.get("first_table_s")
    poll = t.get("first_table_poll_ms")
    p(
        "| time to first table | "
        + ("n/a" if first is None else f"{first:.2f} s (screen polled every {poll:.0f} ms)")
        + " |"
    )
    refresh = t.get("refresh", {})
    cost = refresh.get("cost_ms", {})
    if cost.get("n"):
        p(
            f"| refresh cost (status line, {refresh['window_s']:.0f} s) | median {fmt_ms(cost['p50'])}, "
            f"max {fmt_ms(cost['max'])} ({refresh['refreshes']} refreshes) |"
        )
    if refresh.get("sockui_cpu_share") is not None:
        p(f"| sockui CPU over that window | {refresh['sockui_cpu_share'] * 100:.0f}% of one core |")
    rss = t.get("rss_kib", {})
    for key, label in (
        ("first_table", "RSS at first table"),
        ("after_soak", f"RSS {st['soak_s']:.0f} s later"),
        ("end", "RSS at the end of the run"),
    ):
        v = rss.get(key) or {}
        p(f"| {label} | {fmt_mib(v.get('VmRSS'))} (peak so far {fmt_mib(v.get('VmHWM'))}) |")
    if t.get("quit_s") is not None:
        p(f"| q to process exit | {t['quit_s'] * 1000:.0f} ms |")
    p()
    p("Key press to the frame that draws the moved cursor (tmux control mode `%output`), ms:")
    p()
    p("| presses | n | p50 | p99 | max |")
    p("|---|---|---|---|---|")

    def key_row(label: str, s: dict[str, Any] | None) -> None:
        if not s or not s.get("n"):
            p(f"| {label} | 0 | | | |")
            return
        p(f"| {label} | {s['n']} | {s['p50']:.1f} | {s['p99']:.1f} | {s['max']:.1f} |")

    keys = t.get("keys") or {}
    key_row("all", keys.get("all"))
    for kind in bench_tui.KINDS:
        key_row(f"  {bench_tui.LABELS[kind]}", (keys.get("by_kind") or {}).get(kind))
    key_row("harness floor: echo app, quiet machine", (t.get("floor_quiet") or {}).get("all"))
    key_row("harness floor: echo app, sockui refreshing alongside", (t.get("floor_loaded") or {}).get("all"))
    p()
    cross = t.get("side_by_side") or []
    main = by_name_size(sizes, sc["connections"])
    if cross:
        p(
            "Cross-check: bench_tui's own whole-process comparison, in its separate scenario (run-to-run "
            "variance; same method as above):"
        )
        p()
        p("| command | wall time here | vs `ss -tuanxp` here | in the main run | peak RSS here |")
        p("|---|---|---|---|---|")
        for c in cross:
            other = main.get(c["name"])
            p(
                f"| `{c['name']}` | {fmt_ms(c['median_ms'])} | {fmt_ratio(c['ratio_vs_ss_p'])} | "
                f"{fmt_ratio(other['ratio_vs_ss_p']) if other else 'n/a'} | {fmt_mib(c['maxrss_kib'])} |"
            )
        p()
    if t.get("failure"):
        p(f"**sockui misbehaved: {t['failure']}**")
        p()
        p("```")
        p((t.get("failure_screen") or "(no screen captured)").rstrip())
        p("```")
        p()


def by_name_size(sizes: list[dict[str, Any]], connections: int) -> dict[str, dict[str, Any]]:
    size = next((s for s in sizes if s["connections"] == connections), None)
    return {c["name"]: c for c in size["whole_processes"]} if size else {}


# -- main ----------------------------------------------------------------------------------------------


def connection_list(text: str) -> list[int]:
    try:
        values = sorted({int(x.replace("_", "").strip()) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError("connections must be at least 1")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--connections", type=connection_list, default=None, help="comma-separated (default 1000,10000,50000)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 1000 only, 20 presses, 10 s soak")
    parser.add_argument("--runs", type=int, default=3, help="whole-process rounds (median)")
    parser.add_argument("--rss-runs", type=int, default=3, help="peak-RSS runs of each command (median)")
    parser.add_argument("--rounds", type=int, default=5, help="in-process rounds (median)")
    parser.add_argument("--tui-connections", type=int, default=None, help="TUI scale (default: largest N)")
    parser.add_argument("--no-tui", action="store_true", help="skip the TUI in tmux")
    parser.add_argument("--no-cross-check", action="store_true", help="no whole-process run in the TUI's run")
    parser.add_argument("--presses", type=int, default=None, help="TUI key presses (default 200)")
    parser.add_argument("--floor-presses", type=int, default=None, help="echo-app presses (default 100)")
    parser.add_argument("--soak", type=float, default=None, help="TUI seconds for the second RSS (60)")
    parser.add_argument("--refresh-window", type=float, default=None, help="TUI status sampling s (30)")
    parser.add_argument("--build-timeout", type=float, default=300.0, help="seconds to build a scenario")
    parser.add_argument("--sockui", default=None, help="sockui script (default: next to this Python)")
    parser.add_argument("--ss", default="ss", help="ss binary")
    parser.add_argument("--markdown", type=Path, default=None, help="default bench/RESULTS.md")
    parser.add_argument("--json-out", type=Path, default=None, help="default bench/results.json")
    parser.add_argument("--from-json", type=Path, default=None, help="only re-render the markdown from this")
    args = parser.parse_args(argv)
    quick = args.quick
    if args.connections is None:
        args.connections = list(QUICK_CONNECTIONS if quick else DEFAULT_CONNECTIONS)
    for name, full, smoke in (
        ("presses", 200, 20),
        ("floor_presses", 100, 10),
        ("soak", 60.0, 10.0),
        ("refresh_window", 30.0, 5.0),
    ):
        if getattr(args, name) is None:
            setattr(args, name, smoke if quick else full)
    if args.tui_connections is None:
        args.tui_connections = max(args.connections)
    if quick and (args.markdown is None or args.json_out is None):
        out = Path(tempfile.gettempdir()) / "sockui-results-quick"
        out.mkdir(exist_ok=True)
        args.markdown = args.markdown or out / "RESULTS.md"
        args.json_out = args.json_out or out / "results.json"
    args.markdown = args.markdown or _BENCH / "RESULTS.md"
    args.json_out = args.json_out or _BENCH / "results.json"
    if min(args.runs, args.rss_runs, args.rounds) < 1 or args.presses < 2:
        parser.error("--runs, --rss-runs and --rounds must be >= 1, --presses >= 2")
    return args


def write_outputs(args: argparse.Namespace, data: dict[str, Any]) -> None:
    args.json_out.write_text(json.dumps(data, indent=1) + "\n")
    args.markdown.write_text(render(data))
    log(f"wrote {args.markdown} and {args.json_out}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json is not None:
        saved: dict[str, Any] = json.loads(args.from_json.read_text())
        saved["targets"] = evaluate_targets(saved)
        args.markdown.write_text(render(saved))
        log(f"wrote {args.markdown}")
        return 0
    sockui = bench_tui.find_sockui_script(args.sockui)
    ss = shutil.which(args.ss)
    if sockui is None or ss is None or (not args.no_tui and shutil.which("tmux") is None):
        log("results: needs the sockui script (pip install -e .), ss, and tmux for the TUI part")
        return 2
    args.sockui, args.ss = sockui, ss
    # sockui processes cache their bytecode outside the work tree, as bench_tui's do (see there).
    bench_tui.set_bytecode_cache(Path(tempfile.gettempdir()) / "sockui-bench-pycache")
    data: dict[str, Any] = {
        "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "environment": environment(sockui, ss),
        "settings": {
            "connections": args.connections,
            "quick": args.quick,
            "runs": args.runs,
            "rss_runs": args.rss_runs,
            "rounds": args.rounds,
            "tui_connections": None if args.no_tui else args.tui_connections,
            "presses": args.presses,
            "floor_presses": args.floor_presses,
            "soak_s": args.soak,
            "refresh_window_s": args.refresh_window,
        },
        "load_start": loadavg(),
        "sizes": [],
        "tui": None,
    }
    env = data["environment"]
    log(f"sockui {env['git']['revision']}, Linux {env['kernel']}, {env['cpus']} CPUs, load {loadavg()}")
    started = time.monotonic()
    with bench_tui.signals_unwind():
        try:
            for n in args.connections:
                data["sizes"].append(measure_size(args, n))
            if not args.no_tui:
                log(f"TUI in tmux at {args.tui_connections} connections (bench_tui.py)...")
                data["tui"] = tui(args, args.tui_connections)
        except KeyboardInterrupt:
            log("interrupted: scenario, sockui runs and child benchmarks torn down; nothing written")
            return 130
        except ScenarioError as exc:
            log(f"results: scenario failed: {exc}")
            return 2
    data["run_seconds"] = round(time.monotonic() - started, 1)
    data["load_end"] = loadavg()
    data["sources_digest_end"] = sources_digest()
    data["targets"] = evaluate_targets(data)
    write_outputs(args, data)
    missed = [r["target"] for r in data["targets"] if r["met"] is False]
    log(f"done in {data['run_seconds'] / 60:.1f} min; {len(missed)} target(s) missed")
    for what in missed:
        log(f"  missed: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
