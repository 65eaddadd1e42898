"""Soak: the sockui TUI for a long time under connection churn, RSS and refresh cost every minute.

Not a test: a run takes ``--minutes`` (30 by default) and its figures go into ``bench/soak.json``,
which ``results.py`` renders as the "Soak" section of ``bench/RESULTS.md``.

What runs, all real:

- a churn child (this file, ``--churn-child``): a listener on 127.0.0.1 and a loop that opens a
  loopback TCP connection, sends a few bytes each way, and closes it (the server side first, so the
  TIME_WAIT remains are the server's and client ports stay reusable), paced at ``--rate`` connections
  per second; every ``1 / --forks`` seconds it forks a process that holds a fresh connection for
  ~0.2 s and exits (owners that come and go, pids reused over time). It counts what it did in a
  small file the soak reads each minute.
- the installed ``sockui --interval I`` in a private tmux server (160x45), the cursor on the table
  and the detail pane open (``enter``), so every refresh also redraws the pane.

Every ``--sample`` seconds the status line is read (``capture-pane``): its ``HH:MM:SS (NNN ms)`` stamp
gives each refresh's cost (distinct stamps are distinct refreshes), and any ``refresh failed`` text is
an exception the app survived. Each minute: VmRSS/VmHWM of the sockui process, the refresh costs of
that minute (median, max, count), connections churned, sockets shown. At the end ``q`` must make
sockui exit within 10 s with status 0 (the pane's exit status is kept by ``remain-on-exit``).

Run: ``python bench/soak.py [--minutes 30] [--interval 0.5] [--rate 1000]``; ``--minutes 2`` for a
smoke run (written to ``$TMPDIR`` unless ``--out`` is given). Everything is torn down on success,
failure and Ctrl-C: the tmux server, sockui, the churn child and its forks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(_BENCH))

from bench_tui import STAMP, TmuxServer, find_sockui, first_table_shown, git_revision, proc_status  # noqa: E402

SHOWN_TOTAL = "shown "
FAILED = "refresh failed"


# -- the churn child ---------------------------------------------------------------------------------------


def churn_child(rate: float, forks: float, counter: Path) -> int:
    """Open and close loopback connections at ``rate`` per second, fork holders at ``forks`` per second."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    lsock = socket.create_server(("127.0.0.1", 0), backlog=4096)
    port = lsock.getsockname()[1]
    # The forked holders connect here, not to ``lsock``, whose accept() must return the loop's client.
    holders = socket.create_server(("127.0.0.1", 0), backlog=4096)
    holders.setblocking(False)
    holders_port = holders.getsockname()[1]
    made = failed = forked = 0
    start = time.monotonic()
    next_fork = start
    next_report = start
    try:
        while True:
            now = time.monotonic()
            if now >= next_fork and forks > 0:
                next_fork = now + 1.0 / forks
                pid = os.fork()
                if pid == 0:  # a short-lived owner: holds one connection for a moment
                    try:
                        held = socket.create_connection(("127.0.0.1", holders_port), timeout=2)
                        time.sleep(0.2)
                        held.close()
                    finally:
                        os._exit(0)
                forked += 1
            with contextlib.suppress(BlockingIOError):
                while True:
                    holders.accept()[0].close()
            with contextlib.suppress(ChildProcessError):
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass
            try:
                client = socket.create_connection(("127.0.0.1", port), timeout=2)
                server, _ = lsock.accept()
                client.sendall(b"ping")
                server.recv(16)
                server.sendall(b"pong")
                client.recv(16)
                server.close()  # first: the TIME_WAIT is the server's
                client.close()
                made += 1
            except OSError:
                failed += 1
            if now >= next_report:
                next_report = now + 1.0
                counter.write_text(json.dumps({"made": made, "failed": failed, "forked": forked}))
            behind = start + made / rate - time.monotonic()
            if behind > 0:
                time.sleep(behind)
    finally:
        lsock.close()
        holders.close()


# -- the soak ------------------------------------------------------------------------------------------------


def read_counter(path: Path) -> dict[str, int]:
    try:
        loaded: dict[str, int] = json.loads(path.read_text())
        return loaded
    except (OSError, ValueError):
        return {}


def shown_total(screen: str) -> int | None:
    """The total socket count of the status line's ``shown X/Y`` (or ``Y sockets``)."""
    first = screen.splitlines()[0] if screen else ""
    at = first.find(SHOWN_TOTAL)
    if at < 0:
        return None
    words = first[at + len(SHOWN_TOTAL) :].split()
    if not words or "/" not in words[0]:
        return None
    with contextlib.suppress(ValueError):
        return int(words[0].split("/")[1].replace(",", ""))
    return None


def soak(args: argparse.Namespace) -> dict[str, Any]:
    sockui = args.sockui
    work = Path(tempfile.mkdtemp(prefix="sockui-soak-"))
    counter = work / "churn.json"
    churn = subprocess.Popen(
        [sys.executable, __file__, "--churn-child", str(args.rate), str(args.forks), str(counter)],
        start_new_session=True,
    )
    server = TmuxServer("soak")
    minutes: list[dict[str, Any]] = []
    failures: list[str] = []
    result: dict[str, Any] = {
        "settings": {
            "minutes": args.minutes,
            "interval": args.interval,
            "rate": args.rate,
            "forks_per_second": args.forks,
            "sample_seconds": args.sample,
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"Linux {platform.release()}, {os.cpu_count()} CPUs",
        "minutes": minutes,
    }
    try:
        deadline = time.monotonic() + 10
        while not counter.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        server.start([sockui, "--interval", str(args.interval), "--filter", "tcp"])
        pane_pid = int(server.display("#{pane_pid}") or 0)
        pid = find_sockui(pane_pid)
        if pid is None:
            raise RuntimeError("sockui did not start")
        first_deadline = time.monotonic() + 60
        while not first_table_shown(server.capture()):
            if time.monotonic() > first_deadline:
                raise RuntimeError("no table within 60 s:\n" + server.capture())
            time.sleep(0.1)
        server.run("send-keys", "-t", "main", "Enter")  # the detail pane, redrawn at every refresh
        start = time.monotonic()
        result["rss_start_kib"] = proc_status(pid).get("VmRSS")
        last_stamp: tuple[str, int] | None = None
        costs: list[float] = []
        refreshes = 0
        churn_before = read_counter(counter).get("made", 0)
        for minute in range(1, args.minutes + 1):
            end = start + minute * 60
            while time.monotonic() < end:
                screen = server.capture()
                status_line = screen.splitlines()[0] if screen else ""
                if FAILED in status_line and (not failures or failures[-1] != status_line.strip()):
                    failures.append(status_line.strip())
                found = STAMP.search(status_line)
                if found:
                    stamp = (found.group(1), int(found.group(2)))
                    if stamp != last_stamp:  # a refresh every >= interval, read 2+ times as often
                        last_stamp = stamp
                        costs.append(stamp[1])
                if proc_status(pid) == {}:
                    raise RuntimeError("sockui exited:\n" + screen)
                time.sleep(args.sample)
            status = proc_status(pid)
            made = read_counter(counter).get("made", 0)
            row = {
                "minute": minute,
                "rss_kib": status.get("VmRSS"),
                "hwm_kib": status.get("VmHWM"),
                "refreshes": len(costs),
                "cost_median_ms": statistics.median(costs) if costs else None,
                "cost_max_ms": max(costs) if costs else None,
                "churned": made - churn_before,
                "sockets": shown_total(server.capture()),
            }
            refreshes += len(costs)
            churn_before = made
            costs = []
            minutes.append(row)
            print(json.dumps(row), flush=True)
        result["refreshes"] = refreshes
        result["churn"] = read_counter(counter)
        result["rss_end_kib"] = proc_status(pid).get("VmRSS")
        result["failures"] = failures
        server.run("send-keys", "-t", "main", "q")
        quit_deadline = time.monotonic() + 10
        while proc_status(pid) and time.monotonic() < quit_deadline:
            time.sleep(0.05)
        result["exited"] = not proc_status(pid)
        while server.display("#{pane_dead}") != "1" and time.monotonic() < quit_deadline + 5:
            time.sleep(0.05)  # tmux notices the exit a moment after the process is gone
        dead = server.display("#{pane_dead_status}")
        result["exit_status"] = int(dead) if dead and dead.isdigit() else None
        return result
    finally:
        server.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(churn.pid, signal.SIGKILL)
        churn.wait(timeout=10)
        for leftover in work.iterdir():
            leftover.unlink()
        work.rmdir()


# -- report ------------------------------------------------------------------------------------------------


def mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f} MiB"


def render_soak(data: dict[str, Any]) -> list[str]:
    """The "Soak" section of RESULTS.md (markdown lines)."""
    s = data["settings"]
    rows = data["minutes"]
    lines = [
        "## Soak: the TUI under churn",
        "",
        f"`python bench/soak.py` on {data['started']} ({data['machine']}, sockui "
        f"`{data.get('sockui_revision', '?')}`; the history ring fills in the first minute): "
        f"`sockui --interval {s['interval']} --filter tcp` in tmux (160x45) with the detail pane open, "
        f"for {s['minutes']} minutes, while a child opened and closed loopback connections at up to "
        f"{s['rate']:,.0f} per second and forked "
        f"{s['forks_per_second']:g} short-lived socket holders per second.",
        "",
        f"- connections churned: {data.get('churn', {}).get('made', 0):,} "
        f"({data.get('churn', {}).get('failed', 0):,} failed to connect), processes forked: "
        f"{data.get('churn', {}).get('forked', 0):,}",
        f"- refreshes seen on screen: {data.get('refreshes', 0):,}",
        f"- exceptions (status line `refresh failed`): {len(data.get('failures', []))}"
        + ("" if not data.get("failures") else f": {'; '.join(data['failures'][:3])}"),
        f"- RSS at the start {mib(data.get('rss_start_kib'))}, at the end {mib(data.get('rss_end_kib'))}",
        f"- `q` at the end: {'exited within 10 s' if data.get('exited') else '**did not exit**'}"
        + ("" if data.get("exit_status") is None else f" (status {data['exit_status']})"),
        "",
        "| minute | RSS | peak RSS | refreshes | refresh cost median | max | churned | tcp sockets |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        med = "-" if r["cost_median_ms"] is None else f"{r['cost_median_ms']:.0f} ms"
        top = "-" if r["cost_max_ms"] is None else f"{r['cost_max_ms']:.0f} ms"
        lines.append(
            f"| {r['minute']} | {mib(r['rss_kib'])} | {mib(r['hwm_kib'])} | {r['refreshes']} | {med} | {top} "
            f"| {r['churned']:,} | {r['sockets'] if r['sockets'] is not None else '-'} |"
        )
    lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--churn-child"]:
        return churn_child(float(argv[1]), float(argv[2]), Path(argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--rate", type=float, default=1000.0, help="connections per second")
    parser.add_argument("--forks", type=float, default=2.0, help="short-lived holders forked per second")
    parser.add_argument("--sample", type=float, default=0.25, help="seconds between status line reads")
    parser.add_argument("--sockui", default=str(Path(sys.executable).with_name("sockui")))
    parser.add_argument("--out", type=Path, default=None, help="default bench/soak.json (full runs)")
    args = parser.parse_args(argv)
    out = args.out or (
        _BENCH / "soak.json" if args.minutes >= 30 else Path(tempfile.gettempdir()) / "soak.json"
    )
    try:
        data = soak(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    data["sockui_revision"] = git_revision()
    out.write_text(json.dumps(data, indent=2) + "\n")
    print("\n".join(render_soak(data)))
    print(f"written to {out}", file=sys.stderr)
    ok = not data.get("failures") and data.get("exited") and data.get("exit_status") == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
