"""Closing sockets that cannot or must not be closed: refused in plain words, and nothing is touched.

The sockets are the test's own (``bag`` closes them); helpers come from ``test_destroy``. Needs root
for the kernel paths; the unprivileged case runs a short script as nobody.
"""

from __future__ import annotations

import errno
import json
import os
import socket

import pytest

from sockui.act.destroy import NEEDS_ROOT, UNIX_REFUSED, DestroyResult, destroy, ss_kill_command
from sockui.collect.netlink import NetlinkError, NetlinkSocket

from .scenario import BOUND_INACTIVE_KERNEL, SocketBag, inode_of
from .test_destroy import record_of, roundtrip, tcp_pair
from .test_signals import run_as_nobody

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="closing sockets needs root (CAP_NET_ADMIN)")


def test_socket_changed_since_listed_is_left_alone(bag: SocketBag) -> None:
    """A UDP socket listed unconnected, connected since: the request no longer names it."""
    sock, peer = bag.new(socket.AF_INET, socket.SOCK_DGRAM), bag.new(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    peer.bind(("127.0.0.1", 0))
    listed = record_of(sock)
    sock.connect(peer.getsockname())
    result = destroy(listed)
    assert not result.ok and not result.offer_kill and result.code == errno.ENOENT
    expected = f"now ESTABLISHED with 127.0.0.1:{peer.getsockname()[1]}); look again"
    assert result.reason is not None and expected in result.reason, result.reason
    peer.sendto(b"fine", sock.getsockname())
    sock.settimeout(5)
    assert sock.recv(16) == b"fine"


class RefusingLink(NetlinkSocket):
    """A netlink socket whose requests fail with a given error (kernels or failures we cannot cause)."""

    def __init__(self, failure: OSError) -> None:
        super().__init__()
        self.failure = failure

    def request(self, payload: bytes, mtype: int = 20) -> list[memoryview]:
        raise self.failure


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (NetlinkError(errno.EOPNOTSUPP, "x"), "without CONFIG_INET_DIAG_DESTROY); kill the owner instead"),
        (NetlinkError(errno.EBUSY, "x"), "the kernel refused to close it: Device or resource busy"),
        (TimeoutError(errno.ETIMEDOUT, "x"), "no answer from the kernel, but sockui could not check"),
    ],
)
def test_other_kernel_answers_in_plain_words(bag: SocketBag, failure: OSError, expected: str) -> None:
    _, client, server = tcp_pair(bag)
    with RefusingLink(failure) as link:
        result = destroy(record_of(client), link)
    assert not result.ok and result.reason is not None and expected in result.reason, result
    assert "Traceback" not in result.reason
    roundtrip(client, server)


# -- refused before asking the kernel ---------------------------------------------------------------


def test_unix_refused_and_untouched(bag: SocketBag) -> None:
    left, right = socket.socketpair()
    bag.add(left)
    bag.add(right)
    result = destroy(record_of(left))
    assert result == DestroyResult(False, UNIX_REFUSED, offer_kill=True)
    roundtrip(left, right)
    assert ss_kill_command(record_of(left)) == ""


def test_bound_only_and_never_bound_tcp_refused(bag: SocketBag) -> None:
    bound, bare = bag.new(), bag.new()
    bound.bind(("127.0.0.1", 0))
    for sock in (bound, bare):
        result = destroy(record_of(sock))
        assert not result.ok and result.offer_kill and result.code is None, result
        assert result.reason is not None and "kill the owner instead" in result.reason
    if BOUND_INACTIVE_KERNEL:
        assert "only bound" in (destroy(record_of(bound)).reason or "")
    bound.listen()  # untouched: still usable
    bare.connect(bound.getsockname())


# -- unprivileged -----------------------------------------------------------------------------------

#: Run as nobody: find the socket with inode argv[1] in a snapshot and try to close it.
NOBODY_SCRIPT = r"""
import json, sys
from sockui.act.destroy import destroy
from sockui.collect.snapshot import Collector
inode = int(sys.argv[1])
with Collector(owners=False) as collector:
    rec = next(r for r in collector.collect().sockets if r.inode == inode)
result = destroy(rec)
print(json.dumps({"ok": result.ok, "reason": result.reason, "code": result.code}))
"""


def test_unprivileged_close_is_refused_and_the_socket_works(bag: SocketBag) -> None:
    _, client, server = tcp_pair(bag)
    result = run_as_nobody(NOBODY_SCRIPT, str(inode_of(client)))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"ok": False, "reason": NEEDS_ROOT, "code": errno.EPERM}
    roundtrip(client, server)
