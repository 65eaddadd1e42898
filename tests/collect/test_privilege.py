"""sockui where it may not do everything: netlink refused, /proc hiding processes, no CAP_NET_ADMIN.

- **Netlink refused.** A seccomp filter (installed through ``prctl`` by a small launcher, then
  ``exec``: a real kernel refusal, nothing in sockui's process is replaced) makes
  ``socket(AF_NETLINK, ...)`` fail with EACCES (what a sandbox or an LSM answers) or EAFNOSUPPORT
  (what systemd's ``RestrictAddressFamilies`` answers). ``sockui --once --json`` must say so in one
  line on stderr, read /proc/net instead, list every socket of the scenario as the netlink run does
  (but for what /proc/net does not carry), exit 0, print no traceback.
- **/proc mounted with hidepid.** In a private mount namespace (``unshare -m --propagation private``,
  so nothing reaches the host: checked before and after), /proc is mounted again with
  ``hidepid=invisible`` (2) or ``noaccess`` (1), and sockui runs there as nobody. Every socket ``ss``
  sees in the same setting (before and after sockui) must be listed; the root-held sockets of the
  scenario without owners, the nobody holder's with its owner; stderr must count the sockets whose
  owners are hidden (each listed socket with an inode and no owner) and say why.
- **The TUI** in those settings: the app under Pilot in a child process run as nobody (with and
  without hidepid), and as root with netlink refused. It must start, list the test's socket, say in
  the status line and the detail pane that owners are hidden (as nobody), load the detail pane, quit
  on ``q``, and notify nothing but the one warning each setting calls for.
- **Closing without CAP_NET_ADMIN.** Unprivileged closing is covered by test_destroy_refused.py; here
  root itself lacks the capability (a container's root, ``setpriv --bounding-set -net_admin``): the
  close is refused in plain words and the socket still works.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sockui
from sockui.collect.tables import CREATE_REFUSED, fallback_note

from .holders import AS_NOBODY, HolderPool, without_container
from .scenario import Scenario, SocketBag, find_by_inode, inode_of
from .test_destroy import roundtrip, tcp_pair
from .test_destroy_refused import NOBODY_SCRIPT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (seccomp as root, mounts, setpriv)")

ROOT = Path(sockui.__file__).resolve().parent.parent
#: Run subprocesses with this checkout importable (nobody cannot read a pyenv shim, PATH is kept).
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "LC_ALL": "C.UTF-8"}

# -- netlink refused ----------------------------------------------------------------------------------

#: argv: ERRNO COMMAND... Installs a seccomp filter that fails socket(AF_NETLINK, ...) with ERRNO and
#: allows everything else, then execs COMMAND (the filter stays across exec).
SECCOMP_LAUNCHER = r"""
import ctypes, os, platform, struct, sys

ARCHES = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}  # AUDIT_ARCH_*, __NR_socket
arch, nr_socket = ARCHES[platform.machine()]
code, argv = int(sys.argv[1]), sys.argv[2:]
LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06
ALLOW, ERRNO = 0x7FFF0000, 0x00050000
AF_NETLINK = 16
program = [
    (LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
    (JEQ_K, 1, 0, arch),
    (RET_K, 0, 0, ALLOW),  # another ABI: not ours to judge
    (LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    (JEQ_K, 0, 3, nr_socket),
    (LD_W_ABS, 0, 0, 16),  # low word of args[0]: the address family
    (JEQ_K, 0, 1, AF_NETLINK),
    (RET_K, 0, 0, ERRNO | code),
    (RET_K, 0, 0, ALLOW),
]
code_bytes = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in program))


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


fprog = SockFprog(len(program), ctypes.addressof(code_bytes))
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
    raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
    raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")
os.execvp(argv[0], argv)
"""

#: Probe run under the filter: which socket families may be created.
PROBE = r"""
import json, socket
out = {}
for name, args in (("netlink", (socket.AF_NETLINK, socket.SOCK_RAW, 4)), ("inet", (socket.AF_INET,)),
                   ("unix", (socket.AF_UNIX,))):
    try:
        socket.socket(*args).close()
        out[name] = 0
    except OSError as exc:
        out[name] = exc.errno
print(json.dumps(out))
"""


def run_text(
    command: list[str], *, timeout: float = 60.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``command`` from /, with the test environment; text output (undecodable bytes kept)."""
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        errors="surrogateescape",
        env=ENV if env is None else env,
        cwd="/",
        timeout=timeout,
        check=False,
    )


def sandboxed(code: int, *command: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``command`` with socket(AF_NETLINK) failing with ``code``; text output."""
    if platform.machine() not in ("x86_64", "aarch64"):
        pytest.skip(f"the seccomp launcher knows x86_64 and aarch64, not {platform.machine()}")
    return run_text([sys.executable, "-c", SECCOMP_LAUNCHER, str(code), *command], timeout=timeout)


def sockui_json(*prefix: str) -> tuple[list[dict[str, Any]], str]:
    """``sockui --once --json`` (behind ``prefix``, e.g. a sandbox) -> (objects, stderr); exit 0 asserted."""
    result = run_text([*prefix, sys.executable, "-m", "sockui", "--once", "--json"])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout), result.stderr


#: What /proc/net cannot tell, per scenario socket: field -> the value the fallback gives instead.
#: UNIX: no owner uid and no peer in /proc/net/unix, so a connected socket's remote has no path.
#: ``tcp_bound``: a TCP socket that is only bound is in no /proc/net file (the kernel's tcp seq file
#: walks the listening and established tables only): found through its fd, listed as unbound.
#: ``unix_dgram_client``: a connected datagram socket is told from a bound one by its peer alone.
UNIX_KEYS = (
    "unix_listener",
    "unix_client",
    "unix_server",
    "unix_dgram",
    "unix_dgram_client",
    "pair_a",
    "pair_b",
    "unix_abstract",
    "unix_bare",
)


def expected_fallback(key: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The JSON object the /proc/net fallback must print for the scenario socket ``key``."""
    want = dict(obj)
    if key in UNIX_KEYS:
        want["uid"] = None
        want["peer_inode"] = None
        if want["remote"] is not None:
            want["remote"] = {"path": None}
    if key == "unix_dgram_client":
        want.update(state="UNCONN", binding="unbound", local=None, remote=None)
    if key == "tcp_bound":
        want.update(state="UNCONN", binding="unbound", local=None, remote=None)
    return want


@pytest.mark.parametrize("code", [errno.EACCES, errno.EAFNOSUPPORT], ids=["EACCES", "EAFNOSUPPORT"])
def test_netlink_refused_falls_back_to_proc_net(
    code: int, scenario_tw: Scenario, bag: SocketBag, tmp_path: Path
) -> None:
    # /proc/net/unix ends each line with the path, which may hold spaces (leading ones too).
    spaced = bag.new(socket.AF_UNIX, socket.SOCK_STREAM)
    bag.bind_unix(spaced, str(tmp_path / "  two  spaces .sock"))
    spaced.listen(1)
    probe = sandboxed(code, sys.executable, "-c", PROBE)
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout) == {"netlink": code, "inet": 0, "unix": 0}, (
        "the filter is real and narrow"
    )

    normal, _ = sockui_json()
    launcher = [sys.executable, "-c", SECCOMP_LAUNCHER, str(code)]
    fallback, stderr = sockui_json(*launcher)

    notes = [line for line in stderr.splitlines() if "netlink" in line]
    assert len(notes) == 1, stderr
    assert os.strerror(code) in notes[0] and "/proc/net" in notes[0], notes[0]
    for key, inode in [*scenario_tw.own_inodes().items(), ("unix_listener", inode_of(spaced))]:
        want = expected_fallback(key, find_by_inode(normal, inode))
        assert find_by_inode(fallback, inode) == want, key
    assert scenario_tw.time_wait is not None
    laddr, lport, raddr, rport = scenario_tw.time_wait
    waiting = [
        o
        for o in fallback
        if o["state"] == "TIME_WAIT"
        and o["local"] == {"address": laddr, "port": lport}
        and o["remote"] == {"address": raddr, "port": rport}
    ]
    assert len(waiting) == 1, "the TIME_WAIT flow (no inode, no cookie in /proc/net) is listed once"


# -- /proc mounted with hidepid ---------------------------------------------------------------------

#: ss as the oracle for "every socket the kernel shows": TCP, UDP and UNIX, with inodes.
SS = ("ss", "-H", "-tuanxe")


def proc_mounts() -> list[str]:
    """The lines of this (the host's) mount table that mount something on /proc."""
    with open("/proc/self/mountinfo") as fh:
        return [line.strip() for line in fh if line.split()[4] == "/proc"]


@pytest.fixture
def private_proc() -> Iterator[None]:
    """Check that no hidepid mount reaches this mount namespace, before and after the test."""
    for tool in ("unshare", "setpriv", "ss"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    before = proc_mounts()
    assert not any("hidepid" in line for line in before), before
    yield
    assert proc_mounts() == before, "the test's /proc mount leaked out of its private namespace"


def in_hidepid(mode: str, *command: str) -> subprocess.CompletedProcess[str]:
    """``command`` as nobody, in a private mount namespace whose /proc is mounted ``hidepid=mode``."""
    script = f'mount -t proc -o hidepid={mode} proc /proc && exec "$@"'
    return run_text(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", *AS_NOBODY, *command]
    )


def ss_inodes(mode: str) -> set[int]:
    """Inodes of every TCP, UDP and UNIX socket ss lists, run like sockui (hidepid, nobody).

    ss prints text, and a UNIX path may hold spaces or a newline (other tests make such names): a
    line is used only when its columns are where they belong, the rest is skipped, which can only
    make this oracle ask for less. For UNIX lines ``ino:`` is the inode of the path's file; the
    socket's own inode is the "port" column.
    """
    result = in_hidepid(mode, *SS)
    assert result.returncode == 0, result.stderr
    inodes: set[int] = set()
    for line in result.stdout.splitlines():
        fields = line.split()
        if fields[:1] in (["tcp"], ["udp"]):
            inodes.update(int(f[4:]) for f in fields if f.startswith("ino:") and f[4:].isdigit())
        elif (  # NETID STATE RQ SQ PATH INODE PEER INODE: the columns where they belong
            fields[:1]
            and fields[0].startswith("u_")
            and len(fields) >= 8
            and fields[5].isdigit()
            and fields[7].isdigit()
        ):
            inodes.add(int(fields[5]))
    inodes.discard(0)
    return inodes


@pytest.mark.parametrize("mode", ["invisible", "noaccess"])
def test_hidepid_lists_everything_and_counts_hidden_owners(
    mode: str, scenario: Scenario, bag: SocketBag, holders: HolderPool, private_proc: None
) -> None:
    own = bag.new(socket.AF_INET, socket.SOCK_DGRAM)
    own.bind(("127.0.0.1", 0))
    own_inode, parent_fd = inode_of(own), own.fileno()
    holder = holders.spawn([own], as_nobody=True)
    bag.socks.remove(own)
    own.close()

    before = ss_inodes(mode)
    result = in_hidepid(mode, sys.executable, "-m", "sockui", "--once", "--json")
    after = ss_inodes(mode)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    output = json.loads(result.stdout)
    listed = {o["inode"] for o in output}

    assert {scenario.inode("tcp4_listener"), scenario.inode("unix_listener")} <= before & after, (
        "ss saw root's"
    )
    missing = (before & after) - listed
    assert not missing, f"sockets ss saw before and after sockui but sockui did not list: {sorted(missing)}"
    for key, inode in scenario.own_inodes().items():
        if key in ("tcp_bare", "udp6_bare", "unix_bare") or key == "tcp_bound" and inode not in after:
            continue  # in no kernel table: only the (hidden) fd tables of their holder show them
        obj = find_by_inode(output, inode)
        assert obj["processes"] == [], (key, obj)
    mine = find_by_inode(output, own_inode)
    assert without_container(mine["processes"]) == [
        {"pid": holder.pid, "name": holder.comm, "fd": holder.fd_for(parent_fd)}
    ], "nobody's own process is still seen"

    hidden_lines = [line for line in result.stderr.splitlines() if "are hidden" in line]
    assert len(hidden_lines) == 1, result.stderr
    counted = int(re.findall(r"owners of (\d+) sockets? are hidden", hidden_lines[0])[0])
    ownerless = sum(1 for o in output if o["inode"] and not o["processes"])
    assert counted == ownerless, (counted, ownerless, hidden_lines[0])
    assert counted >= len(scenario.socks) - 4, hidden_lines[0]
    if mode == "invisible":
        assert "hidepid=invisible" in result.stderr, result.stderr
        assert "other users' processes" in hidden_lines[0], hidden_lines[0]
    else:
        processes = int(re.findall(r"fd tables of (\d+) process", hidden_lines[0])[0])
        assert processes >= 2, hidden_lines[0]  # this test's process and its scenario holder, at least


# -- the TUI ----------------------------------------------------------------------------------------

#: The app under Pilot, in a child process (so that it runs with the child's privileges). argv: INODE
#: of a socket the test holds. It waits for a snapshot with owners listing that socket, puts the
#: cursor on it, opens the detail pane, quits with ``q``, and prints one JSON object: the status
#: line, the socket's owners and detail pane, every warning or error notified or suffered.
TUI_SCRIPT = r"""
import asyncio, json, sys, time
from pathlib import Path

import sockui.app
from sockui.app import SockuiApp
from textual.widgets import Static

inode = int(sys.argv[1])


class Watched(SockuiApp):
    CSS_PATH = str(Path(sockui.app.__file__).with_name("app.tcss"))

    def __init__(self):
        super().__init__(interval=0.5)
        self.failures = []

    def on_collect_failed(self, message):
        self.failures.append("refresh failed: " + message.error)

    def on_worker_state_changed(self, event):
        if event.state.name == "ERROR":
            self.failures.append(f"worker {event.worker.name} failed: {event.worker.error!r}")

    def notify(self, message, *, title="", severity="information", timeout=None, markup=True):
        if severity != "information":
            self.failures.append(f"{severity}: {message}")
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)


async def until(pilot, predicate, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        await pilot.pause(0.05)


async def main():
    app = Watched()
    out = {}
    async with app.run_test(size=(160, 45)) as pilot:
        def ready():
            snap, derived = app.main.snapshot, app.main.derived
            if snap is None or snap.owners_pending or derived is None or derived.snapshot is not snap:
                return False
            return any(r.inode == inode for r in app.main.table.records())
        await until(pilot, ready, "a snapshot with owners, listing the socket")
        table = app.main.table
        record = next(r for r in table.records() if r.inode == inode)
        out["rows"] = table.row_count
        out["owners"] = [[o.pid, o.fd] for o in record.owners]
        out["hidden_owners"] = app.main.snapshot.hidden_owners
        out["euid"] = app.main.snapshot.euid
        assert table.move_to_key(record.key)
        await pilot.press("enter")
        owners = app.main.detail.query_one("#detail-owners", Static)
        await until(pilot, lambda: "loading" not in str(owners.content), "the detail pane's owners")
        out["detail"] = str(owners.content)
        out["status"] = app.main.status.text
        await pilot.press("q")
        await until(pilot, lambda: app._exit, "q to quit")
    out["failures"] = app.failures
    out["exception"] = repr(app._exception) if app._exception else None
    out["return_code"] = app.return_code
    print(json.dumps(out))


asyncio.run(main())
"""


def run_tui(prefix: list[str], inode: int) -> dict[str, Any]:
    """:data:`TUI_SCRIPT` behind ``prefix`` (setpriv, a sandbox); its report, after a clean exit."""
    env = {**ENV, "HOME": "/nonexistent"}
    result = run_text([*prefix, sys.executable, "-c", TUI_SCRIPT, str(inode)], timeout=90, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["exception"] is None and report["return_code"] == 0, report
    return report


@pytest.mark.parametrize("hidepid", [None, "invisible"], ids=["plain", "hidepid"])
def test_tui_as_nobody_lists_sockets_and_says_owners_are_hidden(
    bag: SocketBag, hidepid: str | None, private_proc: None
) -> None:
    listener = bag.new()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    prefix = list(AS_NOBODY)
    if hidepid is not None:
        mount = f'mount -t proc -o hidepid={hidepid} proc /proc && exec "$@"'
        prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c", mount, "sh", *prefix]
    report = run_tui(prefix, inode_of(listener))

    assert report["euid"] == 65534
    if hidepid is None:
        assert report["failures"] == [], report["failures"]
    else:  # said once, as a warning: not a failure
        assert len(report["failures"]) == 1 and f"hidepid={hidepid}" in report["failures"][0], report
        assert report["failures"][0].startswith("warning: "), report["failures"]
    assert report["rows"] >= 1
    assert report["owners"] == [], "root's socket has no owner nobody could see"
    assert report["hidden_owners"] >= 1
    assert f"owners hidden: {report['hidden_owners']}" in report["status"], report["status"]
    assert "unreadable without root" in report["status"], report["status"]
    assert "owners may be hidden" in report["detail"], report["detail"]


def test_tui_with_netlink_refused(bag: SocketBag) -> None:
    """The TUI in the seccomp sandbox: listed from /proc/net, said once, the detail pane still loads.

    The detail pane asks the kernel for tcp_info by an exact netlink query; that socket could not be
    made either, the pane's worker died of it, and the pane said "loading details…" for ever.
    """
    listener = bag.new()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    report = run_tui([sys.executable, "-c", SECCOMP_LAUNCHER, str(errno.EACCES)], inode_of(listener))

    assert report["failures"] == [f"warning: {fallback_note(CREATE_REFUSED + os.strerror(errno.EACCES))}"]
    assert report["owners"] == [[os.getpid(), listener.fileno()]]
    assert f"Owner {os.getpid()}" in report["detail"], report["detail"]


# -- closing without CAP_NET_ADMIN --------------------------------------------------------------------


def test_root_without_cap_net_admin_cannot_close(bag: SocketBag) -> None:
    """A container's root: uid 0, no CAP_NET_ADMIN. Told what it lacks (not "needs root"); nothing touched."""
    from sockui.act.destroy import ROOT_LACKS_CAP

    _, client, server = tcp_pair(bag)
    result = run_text(
        ["setpriv", "--bounding-set", "-net_admin", "--inh-caps", "-net_admin"]
        + [sys.executable, "-c", NOBODY_SCRIPT, str(inode_of(client))]
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"ok": False, "reason": ROOT_LACKS_CAP, "code": errno.EPERM}
    assert "CAP_NET_ADMIN" in ROOT_LACKS_CAP and "needs root" not in ROOT_LACKS_CAP
    roundtrip(client, server)
