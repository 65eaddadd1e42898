"""Run as nobody, sockui still lists every socket the kernel shows, hides owners it cannot see, and says so.

While root-owned processes (this test and a child) hold the scenario's sockets, `sockui --once --json`
run as nobody (setpriv) exits 0, lists each of those sockets by inode with ``processes: []``, and its
stderr counts the sockets whose owners are hidden (every listed socket with an inode and no owner).
A socket held by a process of nobody's own still shows that owner: what can be seen is shown. The
same with /proc hiding other users' processes (hidepid) is in test_privilege.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from typing import Any

import pytest

from .holders import AS_NOBODY, HolderPool, run_sockui, without_container
from .scenario import BOUND_INACTIVE_KERNEL, Scenario, SocketBag, find_by_inode, inode_of

#: Sockets in no kernel table (never bound): only the fd tables of their holders show them.
ONLY_IN_PROC = {"tcp_bare", "udp6_bare"} | (set() if BOUND_INACTIVE_KERNEL else {"tcp_bound"})


@pytest.fixture(scope="module", autouse=True)
def _nobody_can_run_sockui() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to nobody (and to have owners nobody cannot see)")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    probe = subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", "import sockui.collect.snapshot"],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run {sys.executable} -m sockui here: {probe.stderr.strip()[-300:]}")


@pytest.fixture(scope="module")
def as_nobody(scenario: Scenario) -> tuple[list[dict[str, Any]], str]:
    result = run_sockui("--once", "--json", as_nobody=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_sockets_listed_with_owners_hidden(
    scenario: Scenario, as_nobody: tuple[list[dict[str, Any]], str]
) -> None:
    output, _ = as_nobody
    for key, inode in scenario.own_inodes().items():
        if key in ONLY_IN_PROC:
            continue
        obj = find_by_inode(output, inode)
        assert without_container(obj["processes"]) == [], (key, obj)
        assert obj["uid"] == 0, (key, obj)


def test_stderr_counts_hidden_owners(scenario: Scenario, as_nobody: tuple[list[dict[str, Any]], str]) -> None:
    """The count is of the sockets listed with an inode and no owner: exactly those of the JSON."""
    output, stderr = as_nobody
    visible = len(scenario.socks) - len(ONLY_IN_PROC)
    lines = [line for line in stderr.splitlines() if "hidden" in line]
    assert lines, f"no word about hidden owners on stderr: {stderr!r}"
    counts = [int(n) for n in re.findall(r"(\d+) sockets?", lines[0])]
    assert counts, lines[0]
    assert counts[0] >= visible, lines[0]
    assert counts[0] == sum(1 for o in output if o["inode"] and not o["processes"]), lines[0]
    assert "not readable by this user" in lines[0], lines[0]


def test_own_processes_still_shown(bag: SocketBag, holders: HolderPool) -> None:
    """A socket held only by a process running as nobody keeps its owner in nobody's view."""
    sock = bag.new(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    inode, port, parent_fd = inode_of(sock), sock.getsockname()[1], sock.fileno()
    holder = holders.spawn([sock], as_nobody=True)
    bag.socks.remove(sock)
    sock.close()
    assert os.stat(f"/proc/{holder.pid}").st_uid == 65534
    result = run_sockui("--once", "--json", "--filter", f"port {port}", as_nobody=True)
    assert result.returncode == 0, result.stderr
    obj = find_by_inode(json.loads(result.stdout), inode)
    assert without_container(obj["processes"]) == [
        {"pid": holder.pid, "name": holder.comm, "fd": holder.fd_for(parent_fd)}
    ]
