"""Killing a socket's owner hits that process or nobody: real child processes get real signals.

Every process signalled here is a child this test started (a Python sleep loop armed with
PR_SET_PDEATHSIG), killed and reaped by a fixture whatever happens. The pid-reuse case is simulated
with a wrong expected start time; the unprivileged case runs a short script as nobody (setpriv)
against a root-owned child.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from sockui.act import signals
from sockui.act.signals import SIGNALS, ProcessHandle, Target, open_target, send, shell_command, wait_exit

from .holders import AS_NOBODY, read_line

ROOT = Path(__file__).resolve().parents[2]

#: A child that dies with the test process, optionally ignores TERM, says "ready" and sleeps forever.
CHILD = r"""
import ctypes, os, signal, sys, threading, time
ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    os._exit(1)
if sys.argv[2] == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if sys.argv[2] == "thread":
    ready = threading.Event()
    threading.Thread(target=lambda: (ready.set(), time.sleep(3600)), daemon=True).start()
    ready.wait()
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""


class Children:
    """Child processes started by one test; killed and reaped at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, mode: str = "plain") -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", CHILD, str(os.getpid()), mode], stdout=subprocess.PIPE
        )
        self.procs.append(proc)
        assert proc.stdout is not None
        assert read_line(proc.stdout, 10.0) == b"ready\n"
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()


@pytest.fixture
def children() -> Iterator[Children]:
    kids = Children()
    try:
        yield kids
    finally:
        kids.close()


def start_time(pid: int) -> float:
    return psutil.Process(pid).create_time()


def opened(pid: int, expected: float | None) -> ProcessHandle:
    handle = open_target(pid, expected)
    assert isinstance(handle, ProcessHandle), handle
    return handle


def test_term_ends_a_child_and_wait_exit_times_it(children: Children) -> None:
    child = children.start()
    with opened(child.pid, start_time(child.pid)) as handle:
        assert handle.name == psutil.Process(child.pid).name()
        assert send(handle, signal.SIGTERM) is None
        waited = wait_exit(handle, 10.0)
        assert waited is not None and 0 <= waited < 10.0
        # Exited but not yet reaped (a zombie): no more signals "sent" to it.
        assert send(handle, signal.SIGTERM) == f"process {child.pid} has already exited"
    assert handle.closed
    assert child.wait(timeout=10) == -signal.SIGTERM


def test_child_ignoring_term_is_still_running_then_kill_works(children: Children) -> None:
    child = children.start("ignore-term")
    with opened(child.pid, start_time(child.pid)) as handle:
        assert send(handle, signal.SIGTERM) is None
        assert wait_exit(handle, 0.3) is None
        assert child.poll() is None
        assert send(handle, signal.SIGKILL) is None
        assert wait_exit(handle, 10.0) is not None
    assert child.wait(timeout=10) == -signal.SIGKILL


def test_exited_process_is_refused_plainly(children: Children) -> None:
    child = children.start()
    started = start_time(child.pid)
    with opened(child.pid, started) as handle:
        assert send(handle, signal.SIGKILL) is None
        assert wait_exit(handle, 10.0) is not None
        # Still a zombie (not reaped): it has exited all the same.
        assert open_target(child.pid, started) == f"process {child.pid} has exited"
    child.wait(timeout=10)
    assert open_target(child.pid, started) == f"process {child.pid} has exited"


def test_reused_pid_is_refused_and_left_alone(children: Children) -> None:
    """A pid whose process started at another time than the one chosen is another process."""
    child = children.start()
    seen = start_time(child.pid) - 2.0  # what the user saw was an earlier holder of this pid
    message = open_target(child.pid, seen)
    assert isinstance(message, str)
    assert message.startswith(f"pid {child.pid} is now a different process"), message
    with opened(child.pid, None) as handle:  # the child is untouched: alive, and no signal pending
        assert wait_exit(handle, 0.0) is None
    assert child.poll() is None
    status = Path(f"/proc/{child.pid}/status").read_text()
    assert "SigPnd:\t0000000000000000" in status and "ShdPnd:\t0000000000000000" in status


def test_thread_ids_and_bad_pids_are_refused(children: Children) -> None:
    child = children.start("thread")
    tids = [int(t) for t in os.listdir(f"/proc/{child.pid}/task") if int(t) != child.pid]
    assert tids
    assert open_target(tids[0], None) == f"{tids[0]} is a thread of process {child.pid}, not a process"
    assert open_target(0, None) == "0 is not a process id"
    assert open_target(os.getpid(), None) == f"process {os.getpid()} is sockui itself"


def test_read_target_and_handle_close(children: Children) -> None:
    child = children.start()
    target = signals.read_target(child.pid)
    assert target == Target(child.pid, start_time(child.pid), psutil.Process(child.pid).name())
    handle = opened(target.pid, target.start_time)
    fd = handle.fd
    handle.close()
    handle.close()
    with pytest.raises(OSError):
        os.fstat(fd)
    with pytest.raises(ValueError):
        send(handle, signal.SIGTERM)


def test_shell_command_and_offered_signals() -> None:
    assert shell_command([1234, 1240, 1234], signal.SIGTERM) == "kill -TERM 1234 1240"
    assert shell_command([7], signal.SIGKILL) == "kill -KILL 7"
    assert [c.name for c in SIGNALS] == ["TERM", "INT", "HUP", "KILL"]
    assert all(c.meaning and "\n" not in c.meaning for c in SIGNALS)


def test_act_modules_load_no_textual() -> None:
    code = (
        "import sys, sockui.act.signals, sockui.act.destroy; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# -- unprivileged ---------------------------------------------------------------------------------

#: Run as nobody: try to open and to signal (through a pidfd opened by hand) the pid in argv[1].
NOBODY_SCRIPT = r"""
import json, os, signal, sys
from sockui.act.signals import ProcessHandle, open_target, send
pid, start = int(sys.argv[1]), float(sys.argv[2])
refused = open_target(pid, start)
with ProcessHandle(pid, os.pidfd_open(pid), start, "child", 0) as handle:
    sent = send(handle, signal.SIGTERM)
print(json.dumps({"open": refused if isinstance(refused, str) else None, "send": sent}))
"""


def run_as_nobody(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -c CODE ARGS`` as nobody, importing sockui from this checkout; text output."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to nobody")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)}
    probe = subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", "import psutil, sockui.act.signals"],
        capture_output=True,
        text=True,
        cwd="/",
        env=env,
        timeout=60,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot import sockui with {sys.executable}: {probe.stderr.strip()[-300:]}")
    return subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd="/",
        env=env,
        timeout=60,
        check=False,
    )


def test_unprivileged_user_is_told_it_may_not_signal_root(children: Children) -> None:
    child = children.start()
    started = start_time(child.pid)
    result = run_as_nobody(NOBODY_SCRIPT, str(child.pid), repr(started))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    root = pwd.getpwuid(0).pw_name
    expected = f"not allowed: process {child.pid} belongs to user {root} (run as root)"
    assert answer == {"open": expected, "send": expected}
    assert child.poll() is None
    with contextlib.closing(opened(child.pid, started)) as handle:
        assert wait_exit(handle, 0.0) is None
