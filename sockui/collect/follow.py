"""Looking at followed sockets four times a second, by exact netlink query, on a thread of its own.

A dump of every socket takes seconds at 100k sockets; an exact query for one 4-tuple takes
microseconds (docs/sock_diag.md section 1). So followed sockets are not read from the table's
snapshots but asked for directly, with tcp_info, by this poller, whatever the table's interval.
The query names the 4-tuple without a cookie, so a new socket on the same tuple (a reconnect) is
found too: the timeline tells incarnations apart by the cookie that comes back.

Orientation matters: TCP takes the socket's own (local in src), UDP the swapped one (remote in src),
and UNIX sockets are asked for by inode (docs/sock_diag.md sections 2 and 5).
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable, Iterable

from sockui.collect import inet_diag, unix_diag
from sockui.collect.netlink import NetlinkError, NetlinkSocket
from sockui.collect.netns_link import netlink_in
from sockui.model.binding import dgram_state, tcp_state, unix_state
from sockui.model.follow import FlowId, Observation
from sockui.model.kernel import AF_INET, AF_INET6, AF_UNIX, IPPROTO_TCP, IPPROTO_UDP
from sockui.model.socket import Family, InetEndpoint, Proto

#: Seconds between two looks at the followed sockets.
PERIOD = 0.25
_UNIX_REQ_SHOW = unix_diag.SHOW


def _family(flow: FlowId) -> int:
    return AF_INET6 if flow.family is Family.IPV6 else AF_INET


def _ends(flow: FlowId) -> tuple[str, int, str, int]:
    local = flow.local if isinstance(flow.local, InetEndpoint) else InetEndpoint("", 0)
    remote = flow.remote if isinstance(flow.remote, InetEndpoint) else InetEndpoint("", 0)
    return local.address, local.port, remote.address, remote.port


def inet_request(flow: FlowId) -> bytes | None:
    """The exact query for a TCP or UDP flow, oriented as the kernel wants it; None for others."""
    laddr, lport, raddr, rport = _ends(flow)
    ext = inet_diag.EXT_INFO | inet_diag.EXT_CONG
    if flow.proto is Proto.TCP:
        request = inet_diag.build_exact(_family(flow), IPPROTO_TCP, laddr, lport, raddr, rport, None, ext)
    elif flow.proto is Proto.UDP:
        # Swapped for UDP: the remote end in src, the local one in dst (unconnected: src empty).
        request = inet_diag.build_exact(_family(flow), IPPROTO_UDP, raddr, rport, laddr, lport, None)
    else:
        return None
    # A socket bound to an interface is only found when the query names it (docs/sock_diag.md §6).
    return inet_diag.with_ifindex(request, flow.ifindex) if flow.ifindex else request


def unix_request(inode: int) -> bytes:
    """An exact unix_diag query for one inode (any cookie)."""
    return unix_diag.REQ.pack(AF_UNIX, 0, 0, 0xFFFFFFFF, inode, _UNIX_REQ_SHOW, 0xFFFFFFFF, 0xFFFFFFFF)


def _look_unix(nl: NetlinkSocket, flow: FlowId, now: float) -> Observation:
    if not flow.inode:
        return Observation(flow, now, False, error="this UNIX socket has no inode to follow")
    for payload in nl.request(unix_request(flow.inode)):
        item = unix_diag.decode(payload)
        if item is not None:
            state, _binding = unix_state(item.type, item.state, item.name is not None, item.peer)
            return Observation(flow, now, True, state, item.cookie or None, item.rqueue, item.wqueue)
    return Observation(flow, now, False)


def look(nl: NetlinkSocket, flow: FlowId, now: float) -> Observation:
    """One exact look at ``flow``: what it is now, or that it is gone."""
    try:
        if flow.proto is Proto.UNIX:
            return _look_unix(nl, flow, now)
        request = inet_request(flow)
        if request is None:
            return Observation(flow, now, False, error=f"{flow.proto.value} sockets cannot be followed live")
        proto = IPPROTO_TCP if flow.proto is Proto.TCP else IPPROTO_UDP
        for payload in nl.request(request):
            item = inet_diag.decode(payload, proto, inet_diag.AddressCache())
            if item is not None:
                state = tcp_state(item.state)[0] if flow.proto is Proto.TCP else dgram_state(item.state)[0]
                cookie = item.cookie or None
                return Observation(
                    flow, now, True, state, cookie, item.rqueue, item.wqueue, item.tcp_info, item.cong
                )
        return Observation(flow, now, False)
    except NetlinkError as exc:
        if exc.errno in (errno.ENOENT, errno.ESTALE):
            return Observation(flow, now, False)
        return Observation(flow, now, False, error=f"query refused: {exc.strerror}")
    except (OSError, ValueError) as exc:
        return Observation(flow, now, False, error=f"query failed: {exc}")


#: Seconds before trying again to enter a namespace that could not be entered (each try is a thread).
RETRY_ENTER = 5.0


class FollowPoller:
    """One thread that looks at every followed socket each :data:`PERIOD` and reports the batch.

    ``deliver`` is called from the poller's thread with the observations of one round; it must be
    thread-safe (the app passes ``post_message``).
    """

    def __init__(self, deliver: Callable[[list[Observation]], None], period: float = PERIOD) -> None:
        self._deliver = deliver
        self._period = period
        self._flows: dict[FlowId, None] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        #: Namespaces that could not be entered: netns -> (when, the error), retried after a while.
        self._refused: dict[int, tuple[float, str]] = {}

    def follow(self, flow: FlowId) -> None:
        """Start looking at ``flow`` (the next round includes it); starts the thread on first use."""
        with self._cond:
            self._flows[flow] = None
            self._cond.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sockui-follow", daemon=True)
                self._thread.start()

    def unfollow(self, flow: FlowId) -> None:
        """Stop looking at ``flow``."""
        with self._cond:
            self._flows.pop(flow, None)

    @property
    def flows(self) -> list[FlowId]:
        """What is followed."""
        with self._cond:
            return list(self._flows)

    def stop(self, timeout: float = 1.0) -> None:
        """End the thread (its netlink socket is closed by it)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        # One netlink socket per network namespace followed into (a query sees its own namespace).
        links: dict[int, NetlinkSocket] = {}
        try:
            while True:
                with self._cond:
                    if self._stopping:
                        return
                    flows = list(self._flows)
                self._deliver(self._look_round(links, flows))
                wanted = {f.netns for f in flows}
                for netns in [n for n in links if n not in wanted]:
                    links.pop(netns).close()  # nothing followed there any more: let it go
                with self._cond:
                    if not self._stopping:
                        self._cond.wait(self._period)
        finally:
            for link in links.values():
                link.close()

    def _look_round(self, links: dict[int, NetlinkSocket], flows: list[FlowId]) -> list[Observation]:
        """A look at each flow, each through a netlink socket of its namespace."""
        now = time.time()
        result: list[Observation] = []
        for flow in flows:
            link = links.get(flow.netns)
            if link is not None and link.broken:
                links.pop(flow.netns).close()
                link = None
            if link is None:
                refused = self._refused.get(flow.netns)
                if refused is not None and now - refused[0] < RETRY_ENTER:
                    result.append(Observation(flow, now, False, error=refused[1]))
                    continue
                try:
                    link = links[flow.netns] = netlink_in(flow.netns, flow.pids, timeout=2.0)
                except OSError as exc:  # NetnsError included: a plain sentence
                    error = f"cannot query: {exc}"
                    self._refused[flow.netns] = (now, error)
                    result.append(Observation(flow, now, False, error=error))
                    continue
            result.append(look(link, flow, now))
        return result

    @staticmethod
    def look_all(nl: NetlinkSocket, flows: Iterable[FlowId]) -> list[Observation]:
        """One round through one netlink socket (all flows in its namespace): a look at each flow."""
        now = time.time()
        return [look(nl, flow, now) for flow in flows]
