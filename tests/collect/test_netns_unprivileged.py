"""Namespaces as nobody sees them: discovery shows what it can, entering fails in plain words.

The test (root) makes a namespace with ``ip netns add`` and starts a root process inside it. A script run
as nobody (setpriv) calls :func:`discover`, :func:`open_in_netns` and :class:`NetnsSockets` and prints
what it saw as JSON. Nobody can stat and open the ``/run/netns`` bind mount (mode 0444) but not setns()
into it (EPERM, CAP_SYS_ADMIN), cannot even open a root process's ``/proc/PID/ns/net`` (EACCES), and
counts the root processes whose namespace it cannot examine. No traceback, exit status 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sockui

from .holders import AS_NOBODY
from .netns_support import (
    IDLE,
    add_netns,
    in_netns,
    inode_of_path,
    ns_path,
    random_tag,
    require_root_and,
    spawn,
)

SCRIPT = r"""
import json, sys
from sockui.collect.netlink import NetlinkSocket
from sockui.collect.netns import NetnsError, discover, open_in_netns
from sockui.collect.netns_labels import label_namespaces
from sockui.collect.netns_sockets import NetnsSockets

name, root_pid = sys.argv[1], int(sys.argv[2])
found = discover()
out = {
    "unreadable": found.unreadable_pids,
    "namespaces": [
        {"inode": ns.inode, "own": ns.own, "names": list(ns.names), "path": ns.path, "pids": list(ns.pids)}
        for ns in found.namespaces
    ],
    "labels": {str(k): v.label for k, v in label_namespaces(found).items()},
}
target = next(ns for ns in found.namespaces if name in ns.names)
for key, path in (("enter", target.path), ("enter_proc", f"/proc/{root_pid}/ns/net")):
    try:
        open_in_netns(path, NetlinkSocket).close()
        out[key] = None
    except NetnsError as exc:
        out[key] = [exc.errno, str(exc)]
with NetnsSockets() as sockets:
    sockets.update(found)
    out["failures"] = {str(k): v for k, v in sockets.failures.items()}
    out["opened"] = [inode for inode, _sock in sockets]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def as_nobody() -> Iterator[tuple[dict[str, Any], str, int, str]]:
    require_root_and("ip", "setpriv")
    with contextlib.ExitStack() as stack:
        name = add_netns(stack, f"sockui-test-{random_tag()}-u")
        inside = spawn(stack, in_netns(name), IDLE)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(Path(sockui.__file__).parents[1]),
        }
        result = subprocess.run(
            [*AS_NOBODY, sys.executable, "-c", SCRIPT, name, str(inside.pid)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
            env=env,
            check=False,
        )
        if result.returncode != 0 and "Permission denied" in result.stderr and "sockui" not in result.stderr:
            pytest.skip(f"nobody cannot run {sys.executable} here: {result.stderr.strip()[-300:]}")
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        yield json.loads(result.stdout), name, inside.pid, result.stderr


def test_discover_shows_what_nobody_can_see(as_nobody: tuple[dict[str, Any], str, int, str]) -> None:
    out, name, root_pid, _ = as_nobody
    spaces = out["namespaces"]
    own = [ns for ns in spaces if ns["own"]]
    assert len(own) == 1 and own[0]["inode"] == inode_of_path("/proc/self/ns/net")
    (target,) = [ns for ns in spaces if name in ns["names"]]
    assert target["inode"] == inode_of_path(ns_path(name)) and target["path"] == ns_path(name)
    assert root_pid not in target["pids"], "a root process's namespace is not nobody's to see"
    assert out["unreadable"] >= 2, "root's processes (this test, the one in the namespace) are counted"
    assert out["labels"][str(own[0]["inode"])] == "host"
    assert out["labels"][str(target["inode"])] == name


def test_entering_fails_in_plain_words(as_nobody: tuple[dict[str, Any], str, int, str]) -> None:
    out, name, _, _ = as_nobody
    assert out["enter"] == [1, "entering other network namespaces needs root (CAP_SYS_ADMIN)"]
    assert out["enter_proc"] == [13, "opening another user's network namespace needs root (CAP_SYS_PTRACE)"]
    target = str(inode_of_path(ns_path(name)))
    assert out["failures"][target] == "entering other network namespaces needs root (CAP_SYS_ADMIN)"
    own = next(ns["inode"] for ns in out["namespaces"] if ns["own"])
    assert own in out["opened"], "nobody still reads its own namespace"
