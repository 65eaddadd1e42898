"""The command line sockui shows is the one the process holds, byte for byte.

A real child is started with arguments holding CR, CRLF, a non-UTF-8 byte and an empty argument;
the detail pane's reader and the kill dialog's reader must both give them back unchanged (psutil's
``cmdline()`` turned CR into LF).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from sockui.act.actions import SystemActions
from sockui.collect.process import process_info, read_cmdline

ARGS = [b"a\rb", b"c\r\nd", b"\xff\xfe", b"", b"tail"]
SCRIPT = "import sys; sys.stdout.write('up\\n'); sys.stdout.flush(); sys.stdin.read()"


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [os.fsencode(sys.executable), b"-c", SCRIPT.encode(), *ARGS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def expected() -> list[str]:
    return [sys.executable, "-c", SCRIPT, *(os.fsdecode(a) for a in ARGS)]


def test_detail_reader_keeps_every_byte(child: subprocess.Popen[bytes]) -> None:
    assert read_cmdline(child.pid) == expected()
    info = process_info(child.pid)
    assert info.cmdline == tuple(expected()), info.cmdline
    assert "a\rb" in info.cmdline and "c\r\nd" in info.cmdline


def test_kill_dialog_reader_keeps_every_byte(child: subprocess.Popen[bytes]) -> None:
    choice = SystemActions().describe(child.pid)
    assert choice.problem is None and choice.cmdline == " ".join(expected()), choice


def test_exited_process_is_said_to_have_exited(child: subprocess.Popen[bytes]) -> None:
    pid = child.pid
    child.kill()
    child.wait(10)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.01)  # polled with a deadline: the reaped pid's /proc entry goes away
    with pytest.raises(FileNotFoundError):
        read_cmdline(pid)
    assert process_info(pid).gone
    assert SystemActions().describe(pid).problem is not None


#: Rewrites its own argv area in place, as setproctitle does: the new title, then NULs to the end.
RETITLE = r"""
import ctypes, sys
fields = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (proc(5) fields 48, 49)
title = b"nginx: worker process"
ctypes.memmove(start, title.ljust(end - start, b"\0"), end - start)
sys.stdout.write("up\n"); sys.stdout.flush(); sys.stdin.read()
"""


def test_retitled_process_has_no_tail_of_empty_arguments() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", RETITLE, "x" * 64], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
        with open(f"/proc/{proc.pid}/cmdline", "rb") as fh:
            assert fh.read().endswith(b"\0\0\0"), "the padding this test is about"
        assert read_cmdline(proc.pid) == ["nginx: worker process"]
        assert process_info(proc.pid).cmdline == ("nginx: worker process",)
        assert SystemActions().describe(proc.pid).cmdline == "nginx: worker process"
    finally:
        proc.kill()
        proc.wait(10)
