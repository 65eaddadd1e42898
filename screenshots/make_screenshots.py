"""Make the README screenshots from a scenario this script sets up with real sockets.

    python screenshots/make_screenshots.py            # writes screenshots/*.svg and *.png

It starts a few child processes that look like the programs they stand for: each renames itself
(``prctl(PR_SET_NAME)``) and rewrites its command line in place (as ``setproctitle`` does), so the
screenshots show ``nginx: master process /usr/sbin/nginx``, not an interpreter and a script path.
``nginx`` serves on loopback and streams data to its ``curl`` clients (so the follow view has
traffic to draw), ``postgres`` has a ``psql`` client, ``redis`` a UNIX socket, ``dnsmasq`` a UDP
socket. sockui opens against the live machine with Textual's Pilot at 120x36, filtered to those
processes, and saves SVGs; PNGs come from ``rsvg-convert`` (Debian librsvg2-bin) or cairosvg.
Everything it starts is stopped when it ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

from sockui.app import SockuiApp
from sockui.model.socket import Proto, SocketRecord
from sockui.screens.copy_menu import CopyMenuScreen
from sockui.screens.dialogs import KillScreen
from sockui.screens.follow import FollowScreen

HERE = Path(__file__).resolve().parent
SIZE = (120, 36)
NAMES = ("nginx", "curl", "postgres", "psql", "redis-server", "dnsmasq")

#: Command lines the children show (what ``ps`` would say for the real programs).
CMDLINES = {
    "nginx": ["nginx: master process /usr/sbin/nginx", "-g", "daemon off;"],
    "curl": ["curl", "-s", "-o", "/dev/null", "http://127.0.0.1/big.iso"],
    "postgres": ["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/15/main"],
    "psql": ["psql", "-h", "127.0.0.1", "-U", "app", "appdb"],
    "redis-server": ["redis-server *:0", "unixsocket", "/run/redis/redis.sock"],
    "dnsmasq": ["dnsmasq", "--keep-in-foreground", "--listen-address=127.0.0.1"],
}

# A child: rename itself, rewrite its command line, open its sockets, print a line, wait for EOF.
CHILD = r"""
import ctypes, json, os, socket, sys, threading, time
role, arg, cmdline = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
ctypes.CDLL(None).prctl(15, role.encode()[:15], 0, 0, 0)
fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (proc(5) fields 48, 49)
raw = b"\0".join(a.encode() for a in cmdline) + b"\0"
ctypes.memmove(start, raw[: end - start].ljust(end - start, b"\0"), end - start)
held = []

def stream(conn):
    chunk = b"x" * 65536
    try:
        while True:
            conn.sendall(chunk)
            time.sleep(0.02)
    except OSError:
        pass

if role in ("nginx", "postgres"):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(arg))); s.listen(); held.append(s)
    print(s.getsockname()[1], flush=True)
    while True:
        conn, _ = s.accept(); held.append(conn)
        if role == "nginx":
            threading.Thread(target=stream, args=(conn,), daemon=True).start()
elif role in ("curl", "psql"):
    c = socket.create_connection(("127.0.0.1", int(arg))); held.append(c)
    print("ready", flush=True)
    if role == "curl":
        def drain():
            while c.recv(1 << 20):
                pass
        threading.Thread(target=drain, daemon=True).start()
elif role == "redis-server":
    s = socket.socket(socket.AF_UNIX); s.bind(arg); s.listen(); held.append(s)
    c = socket.socket(socket.AF_UNIX); c.connect(arg); held.append(c); held.append(s.accept()[0])
    print("ready", flush=True)
elif role == "dnsmasq":
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); held.append(u)
    print("ready", flush=True)
sys.stdin.read()
"""

#: Room for the rewritten command lines: the kernel's argv area is only as long as the real one.
PADDING = "x" * 160


class Scenario:
    """The demo processes; a context manager that always stops them."""

    def __init__(self) -> None:
        self.procs: dict[str, list[subprocess.Popen[str]]] = {}
        self.tmp = tempfile.mkdtemp(prefix="sockui-demo-", dir="/tmp")
        self.ports: dict[str, str] = {}

    def start(self, role: str, arg: str) -> str:
        """Start one child and return the first line it prints."""
        script = os.path.join(self.tmp, "demo.py")
        if not os.path.exists(script):
            with open(script, "w") as fh:
                fh.write(CHILD)
        proc = subprocess.Popen(
            [sys.executable, script, role, arg, json.dumps(CMDLINES[role]), PADDING],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs.setdefault(role, []).append(proc)
        assert proc.stdout is not None
        return proc.stdout.readline().strip()

    def stop(self, role: str) -> None:
        """Stop the last child of ``role`` (its sockets close: a row to see closing)."""
        proc = self.procs[role].pop()
        proc.kill()
        proc.wait()

    def __enter__(self) -> Scenario:
        self.ports["nginx"] = self.start("nginx", "0")
        self.start("curl", self.ports["nginx"])
        self.start("curl", self.ports["nginx"])
        self.ports["postgres"] = self.start("postgres", "0")
        self.start("psql", self.ports["postgres"])
        os.makedirs(os.path.join(self.tmp, "run", "redis"))
        self.start("redis-server", os.path.join(self.tmp, "run", "redis", "redis.sock"))
        self.start("dnsmasq", "0")
        return self

    def __exit__(self, *exc: object) -> None:
        procs = [p for group in self.procs.values() for p in group]
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


async def wait_until(pilot: Pilot[int], ok: Callable[[], object], timeout: float = 15.0) -> None:
    """Poll the app until ``ok()`` holds (a snapshot arrived, a row is selected)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not ok():
        if loop.time() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await pilot.pause(0.05)


Steps = Callable[[SockuiApp, Pilot[int], Scenario], Awaitable[None]]


async def shoot(name: str, scenario: Scenario, filter_text: str, steps: Steps) -> Path:
    """Open the app, run ``steps``, save ``name``.svg."""
    app = SockuiApp(filter_text=filter_text, interval=1.0)
    async with app.run_test(size=SIZE) as pilot:
        # The first snapshot may come before the owners (the TUI's quick start): wait for them.
        await wait_until(pilot, lambda: (snap := app.main.snapshot) is not None and not snap.owners_pending)
        await steps(app, pilot, scenario)
        await pilot.pause(0.3)
        path = app.save_screenshot(filename=f"{name}.svg", path=str(HERE))
    return Path(path)


def row_of(app: SockuiApp, name: str, proto: Proto = Proto.TCP, listening: bool = False) -> SocketRecord:
    """The first row owned by ``name`` (a listener or not)."""
    for record in app.main.table.records():
        is_listener = record.state == "LISTEN"
        owned = bool(record.owners) and record.owners[0].name == name
        if owned and record.proto is proto and is_listener == listening:
            return record
    raise RuntimeError(f"no {name} row")


async def main_view(app: SockuiApp, pilot: Pilot[int], scenario: Scenario) -> None:
    """The table with its markers: a new curl (+), a psql that went away (-)."""
    applied = app.snapshots_applied
    scenario.start("curl", scenario.ports["nginx"])
    scenario.stop("psql")
    await wait_until(pilot, lambda: app.snapshots_applied > applied)
    app.main.table.move_to_key(row_of(app, "nginx", listening=True).key)


async def detail_view(app: SockuiApp, pilot: Pilot[int], scenario: Scenario) -> None:
    """A curl client selected, detail pane open: its local pair is nginx's accepted socket."""
    app.main.table.move_to_key(row_of(app, "curl").key)
    await pilot.press("enter")
    await wait_until(pilot, lambda: "Owner" in str(app.main.query_one("#detail-owners").render()))


async def filtered_view(app: SockuiApp, pilot: Pilot[int], scenario: Scenario) -> None:
    """Only listeners, UDP hidden."""
    await pilot.press("b")
    await pilot.press("u")


async def follow_view(app: SockuiApp, pilot: Pilot[int], scenario: Scenario) -> None:
    """Nginx's side of a download, followed: states, TCP internals, throughput."""
    app.main.table.move_to_key(row_of(app, "nginx").key)
    await pilot.press("f")
    await wait_until(pilot, lambda: isinstance(app.screen, FollowScreen))
    screen = app.screen
    assert isinstance(screen, FollowScreen)
    await wait_until(pilot, lambda: screen.timeline is not None and len(screen.timeline.samples) > 30)


async def copy_menu(app: SockuiApp, pilot: Pilot[int], scenario: Scenario) -> None:
    """The copy menu of a curl connection."""
    app.main.table.move_to_key(row_of(app, "curl").key)
    await pilot.press("c")
    await wait_until(pilot, lambda: isinstance(app.screen, CopyMenuScreen))
    await pilot.pause(0.5)


async def kill_dialog(app: SockuiApp, pilot: Pilot[int], scenario: Scenario) -> None:
    """The kill dialog for postgres (not confirmed)."""
    app.main.table.move_to_key(row_of(app, "postgres", listening=True).key)
    await pilot.press("k")
    await wait_until(pilot, lambda: isinstance(app.screen, KillScreen) and bool(app.screen.choices))


def to_png(svg: Path) -> Path | None:
    """Convert with rsvg-convert or cairosvg; None when neither is installed."""
    png = svg.with_suffix(".png")
    if shutil.which("rsvg-convert"):
        subprocess.run(["rsvg-convert", str(svg), "-o", str(png)], check=True)
        return png
    try:
        import cairosvg  # type: ignore[import-not-found]
    except ImportError:
        return None
    cairosvg.svg2png(url=str(svg), write_to=str(png))
    return png


def main() -> int:
    """Build the scenario, take the screenshots, convert them."""
    procs = " or ".join(f"proc {n}" for n in NAMES)
    shots: list[Path] = []
    for name, steps in (
        ("detail", detail_view),
        ("filtered", filtered_view),
        ("follow", follow_view),
        ("copy", copy_menu),
        ("kill", kill_dialog),
        ("main", main_view),
    ):
        with Scenario() as scenario:
            shots.append(asyncio.run(shoot(name, scenario, procs, steps)))
    for svg in shots:
        png = to_png(svg)
        print(
            f"{svg.relative_to(HERE.parent)}" + (f" + {png.name}" if png else " (no SVG converter for PNG)")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
