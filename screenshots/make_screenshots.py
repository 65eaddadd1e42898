"""Make the README screenshots from a scenario this script sets up with real sockets.

    python screenshots/make_screenshots.py            # writes screenshots/*.svg and *.png

It starts a few child processes named like the programs they stand for (``nginx`` listening on
loopback with ``curl`` clients, ``postgres`` with a ``psql`` client, a ``redis`` UNIX socket, a
``dnsmasq`` UDP socket), opens sockui against the live machine with Textual's Pilot, filters to
those processes, and saves SVG screenshots; PNGs come from ``rsvg-convert`` (Debian librsvg2-bin)
or cairosvg when either is available. Everything it starts is stopped when it ends.
"""

from __future__ import annotations

import asyncio
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

HERE = Path(__file__).resolve().parent
SIZE = (150, 38)
NAMES = ("nginx", "curl", "postgres", "psql", "redis", "dnsmasq")

# A child: rename itself (prctl PR_SET_NAME), open its sockets, print "ready", wait for stdin EOF.
CHILD = r"""
import ctypes, os, socket, sys, time
role, arg = sys.argv[1], sys.argv[2]
ctypes.CDLL(None).prctl(15, role.encode(), 0, 0, 0)
held = []
if role in ("nginx", "postgres"):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(arg))); s.listen(); held.append(s)
    print(s.getsockname()[1], flush=True)
    while True:
        conn, _ = s.accept(); held.append(conn)
elif role in ("curl", "psql"):
    for _ in range(2 if role == "curl" else 1):
        held.append(socket.create_connection(("127.0.0.1", int(arg))))
    print("ready", flush=True)
elif role == "redis":
    s = socket.socket(socket.AF_UNIX); s.bind(arg); s.listen(); held.append(s)
    c = socket.socket(socket.AF_UNIX); c.connect(arg); held.append(c); held.append(s.accept()[0])
    print("ready", flush=True)
elif role == "dnsmasq":
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); held.append(u)
    print("ready", flush=True)
sys.stdin.read()
"""


class Scenario:
    """The demo processes; a context manager that always stops them."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.tmp = tempfile.mkdtemp(prefix="demo-", dir="/tmp")

    def start(self, role: str, arg: str) -> str:
        """Start one child and return the first line it prints."""
        script = os.path.join(self.tmp, "demo.py")
        if not os.path.exists(script):
            with open(script, "w") as fh:
                fh.write(CHILD)
        proc = subprocess.Popen(
            [sys.executable, script, role, arg],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        assert proc.stdout is not None
        return proc.stdout.readline().strip()

    def __enter__(self) -> Scenario:
        web = self.start("nginx", "0")
        self.start("curl", web)
        db = self.start("postgres", "0")
        self.start("psql", db)
        self.start("redis", os.path.join(self.tmp, "redis.sock"))
        self.start("dnsmasq", "0")
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


async def wait_until(pilot: Pilot[int], ok: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll the app until ``ok()`` holds (a snapshot arrived, a row is selected)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not ok():
        if loop.time() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await pilot.pause(0.05)


async def shoot(
    name: str, filter_text: str, steps: Callable[[SockuiApp, Pilot[int]], Awaitable[None]]
) -> Path:
    """Open the app, run ``steps``, save ``name``.svg."""
    app = SockuiApp(filter_text=filter_text, interval=1.0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.snapshots_applied > 0)
        await steps(app, pilot)
        await pilot.pause(0.5)
        path = app.save_screenshot(filename=f"{name}.svg", path=str(HERE))
    return Path(path)


async def main_view(app: SockuiApp, pilot: Pilot[int]) -> None:
    """The table as it opens."""


async def detail_view(app: SockuiApp, pilot: Pilot[int]) -> None:
    """A curl client selected, detail pane open: its local pair is nginx's accepted socket."""
    table = app.main.table
    records = table.records()
    for record in records:
        if record.owners and record.owners[0].name == "curl" and record.proto.value == "tcp":
            table.move_to_key(record.key)
            break
    else:
        raise RuntimeError(f"no curl row among {len(records)} rows")
    await pilot.press("enter")
    await wait_until(pilot, lambda: "Owner" in str(app.main.query_one("#detail-owners").render()))


async def filtered_view(app: SockuiApp, pilot: Pilot[int]) -> None:
    """Only listeners, of TCP and UNIX."""
    await pilot.press("b")
    await pilot.press("u")


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
    with Scenario():
        shots = [
            asyncio.run(shoot("main", procs, main_view)),
            asyncio.run(shoot("detail", procs, detail_view)),
            asyncio.run(shoot("filtered", procs, filtered_view)),
        ]
    for svg in shots:
        png = to_png(svg)
        print(
            f"{svg.relative_to(HERE.parent)}" + (f" + {png.name}" if png else " (no SVG converter for PNG)")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
