"""sockui's app with a source whose refreshes after the first take SECONDS: run in a real terminal.

Used by test_tmux to press ``q`` while a refresh is running, as happens on a machine whose refresh
takes seconds (100k sockets). Run as ``python slow_app.py SECONDS MARKER``: MARKER is a file created
when a slow refresh starts, so that the test knows one is running.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from sockui.app import SockuiApp
from sockui.collect.snapshot import CollectCancelledError
from sockui.model.socket import Binding, Family, InetEndpoint, Proto, Snapshot, SocketRecord, SockType

LISTENER = SocketRecord(
    proto=Proto.TCP,
    family=Family.IPV4,
    type=SockType.STREAM,
    state="LISTEN",
    binding=Binding.LISTENING,
    local=InetEndpoint("127.0.0.1", 8080),
    remote=None,
    inode=1,
    uid=0,
    cookie=1,
)


class SlowSource:
    """The first snapshot at once, then every refresh takes ``seconds``.

    Like the real Collector, a slow refresh stops early when ``cancel()`` is called (the real one
    checks between phases); the test proves the app asks for that when the user quits.
    """

    def __init__(self, seconds: float, marker: Path) -> None:
        self.seconds = seconds
        self.marker = marker
        self.calls = 0
        self.lock = threading.Lock()
        self.cancelled = threading.Event()

    def collect(self) -> Snapshot:
        with self.lock:
            self.calls += 1
            slow = self.calls > 1
        if slow:
            self.marker.touch()
            if self.cancelled.wait(self.seconds):
                raise CollectCancelledError("cancelled")
        return Snapshot(sockets=(LISTENER,), taken_at=time.time(), duration=0.0)

    def cancel(self) -> None:
        self.cancelled.set()

    def close(self) -> None:
        pass


def main() -> int:
    source = SlowSource(float(sys.argv[1]), Path(sys.argv[2]))
    app = SockuiApp(interval=0.1, source=lambda: source)
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
