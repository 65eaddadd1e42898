"""Build a :class:`Snapshot`: every socket the kernel has, with owners, binding state and local peers.

One :class:`Collector` lives as long as the app and keeps what is worth keeping between refreshes
(the netlink socket, the owner map, user names). It is not thread-safe; the app runs it from one
worker at a time.
"""

from __future__ import annotations

import errno
import os
import pwd
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar, cast

from sockui.collect import forkscan, inet_diag, unix_diag
from sockui.collect.inet_diag import InetSocket
from sockui.collect.loop import CollectCancelledError
from sockui.collect.netlink import NetlinkError, NetlinkSocket
from sockui.collect.proc_net import read_raw
from sockui.collect.procfs import OwnerMap, netns_of
from sockui.collect.services import load_services
from sockui.collect.sockns import socket_netns
from sockui.collect.unix_diag import UnixSocket
from sockui.model.binding import UNCONN, inet_state, unix_state
from sockui.model.kernel import (
    AF_INET,
    AF_INET6,
    IPPROTO_RAW,
    IPPROTO_TCP,
    IPPROTO_UDP,
    SOCK_DGRAM,
    SOCK_SEQPACKET,
    SOCK_STREAM,
)
from sockui.model.pairing import BoundFlow, ConnectedFlow, inet_peers
from sockui.model.services import ServiceTable
from sockui.model.socket import (
    Binding,
    Family,
    InetEndpoint,
    Owner,
    Proto,
    Snapshot,
    SocketRecord,
    SockType,
    UnixEndpoint,
)

_PROTOS = {IPPROTO_TCP: Proto.TCP, IPPROTO_UDP: Proto.UDP, IPPROTO_RAW: Proto.RAW}
_INET_TYPES = {Proto.TCP: SockType.STREAM, Proto.UDP: SockType.DGRAM, Proto.RAW: SockType.RAW}
_FAMILIES: dict[int, Family] = {AF_INET: Family.IPV4, AF_INET6: Family.IPV6}
_UNIX_TYPES = {SOCK_STREAM: SockType.STREAM, SOCK_DGRAM: SockType.DGRAM, SOCK_SEQPACKET: SockType.SEQPACKET}

#: ``system.sockprotoname`` values of sockets that are in no kernel table yet (never bound): what
#: they are. UNIX sockets are absent on purpose: unix_diag lists even unbound ones, so a UNIX fd
#: missing from the dump was created after it and will be seen properly on the next refresh.
_UNBOUND_KINDS: dict[str, tuple[Proto, Family, SockType]] = {
    "TCP": (Proto.TCP, Family.IPV4, SockType.STREAM),
    "TCPv6": (Proto.TCP, Family.IPV6, SockType.STREAM),
    "UDP": (Proto.UDP, Family.IPV4, SockType.DGRAM),
    "UDPv6": (Proto.UDP, Family.IPV6, SockType.DGRAM),
    "RAW": (Proto.RAW, Family.IPV4, SockType.RAW),
    "RAWv6": (Proto.RAW, Family.IPV6, SockType.RAW),
}
#: Every ``system.sockprotoname`` of a kind sockui lists (inet and UNIX); NETLINK, PACKET and
#: the like are not sockets sockui shows.
_LISTED_KINDS = frozenset(_UNBOUND_KINDS) | {"UNIX", "UNIX-STREAM"}

#: Errors after which a netlink socket is not worth asking again in this refresh: the kernel lacks
#: the family or protocol. Anything else (EBUSY, a timeout, a malformed reply) gets a fresh socket.
_UNSUPPORTED = (errno.ENOENT, errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT, errno.EINVAL)

_T = TypeVar("_T")

__all__ = ["CollectCancelledError", "Collector", "collect_snapshot"]


class Collector:
    """Collects snapshots; keeps the owner map and netlink socket between calls."""

    def __init__(
        self,
        proc_root: str = "/proc",
        owners: bool = True,
        tcp_info: bool = False,
        services: ServiceTable | None = None,
        quick_start: bool = False,
    ) -> None:
        """Set up a collector.

        Args:
            proc_root: where procfs is mounted (tests point it at a fake tree).
            owners: walk /proc for the processes holding each socket.
            tcp_info: ask every TCP dump for ``tcp_info`` and congestion control. Off by default: it
                makes the dump ~4x bigger and decoding ~1.5x slower, while only the detail and follow
                views need it, for a few sockets, which :mod:`sockui.collect.query` fetches exactly.
            services: the port names every snapshot carries; read from /etc/services when None.
            quick_start: deliver the first snapshot before the first walk of every process's fds
                when that walk would run inline (the TUI: threads rule out the forked walker), so
                the table shows at once; the snapshot says ``owners_pending``.
        """
        self.quick_start = quick_start
        self._collected = False
        self.proc_root = proc_root
        self.services = load_services() if services is None else services
        #: Our own network namespace: sockets held by processes elsewhere are not in our dumps.
        self._netns = netns_of(proc_root, os.getpid()) if proc_root == "/proc" else 0
        self.want_owners = owners
        self.want_tcp_info = tcp_info
        self._nl: NetlinkSocket | None = None
        self._owners = OwnerMap(proc_root)
        self._prev_inodes: set[int] = set()
        #: Never-bound sockets reported last time. They are in no kernel table, so their closing
        #: never shows up as "vanished"; their holders are rescanned every refresh instead (few).
        self._prev_unbound: set[int] = set()
        self._users: dict[int, str | None] = {}
        #: (family, protocol) pairs the kernel refused; not asked again, reported once.
        self._unsupported: dict[tuple[int, int], str] = {}
        self._raw_from_proc: set[int] = set()
        self._addrs = inet_diag.AddressCache()
        self._cancelled = threading.Event()
        #: inode -> network namespace of sockets found only through fd tables (see _netns_of).
        self._socket_netns: dict[int, int] = {}
        #: (family, protocol) -> a socket's fixed message bytes -> its decoded form, from last refresh.
        self._decoded: dict[tuple[int, int], dict[bytes, InetSocket]] = {}
        #: key -> (what the record was built from, the record): reused when nothing changed.
        self._previous: dict[int, tuple[tuple[object, ...], SocketRecord]] = {}
        #: (address, port) -> the endpoint object the last refresh's records share.
        self._endpoints: dict[tuple[str, int], InetEndpoint] = {}

    def close(self) -> None:
        """Release the netlink socket."""
        if self._nl is not None:
            self._nl.close()
            self._nl = None

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- kernel tables -------------------------------------------------------------------------

    def _netlink(self) -> NetlinkSocket:
        if self._nl is not None and self._nl.broken:
            self.close()
        if self._nl is None:
            self._nl = NetlinkSocket()
        return self._nl

    def _dump(self, request: bytes, decode: Callable[[memoryview], _T | None]) -> list[_T]:
        """One dump, decoded, asked once more on a fresh socket after any failure but "unsupported".

        A reply left half read (a cancelled refresh) makes the kernel refuse the next dump with
        EBUSY; a timeout or a malformed reply leaves the socket in an unknown state. Either way the
        socket is closed and a new one asks again.
        """
        for attempt in (1, 2):
            nl = self._netlink()
            try:
                return [item for payload in nl.dump(request) if (item := decode(payload)) is not None]
            except NetlinkError as exc:
                if exc.errno in _UNSUPPORTED or attempt == 2:
                    raise
                self.close()
            except OSError:
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _dump_inet(self, family: int, protocol: int, warnings: list[str]) -> list[InetSocket]:
        if (family, protocol) in self._unsupported:
            return []
        if protocol == IPPROTO_RAW and family in self._raw_from_proc:
            return read_raw(self.proc_root, family)
        ext = inet_diag.EXT_INFO | inet_diag.EXT_CONG if protocol == IPPROTO_TCP and self.want_tcp_info else 0
        request = inet_diag.build_request(family, protocol, ext)
        addrs = self._addrs
        decode = inet_diag.decode
        # RAW replies name the real protocol in an attribute; otherwise only the extensions matter.
        attrs = bool(ext) or protocol == IPPROTO_RAW
        if attrs:
            parse: Callable[[memoryview], InetSocket | None] = lambda p: decode(p, protocol, addrs, True)  # noqa: E731
        else:
            # Without attributes, a socket is its fixed 72-byte message: one that reads as it did last
            # refresh (most of them) gets last refresh's decoded object, for a bytes comparison.
            before = self._decoded.get((family, protocol), {})
            now: dict[bytes, InetSocket] = {}
            self._decoded[(family, protocol)] = now

            def parse(payload: memoryview) -> InetSocket | None:
                head = payload[: inet_diag.MSG_SIZE].tobytes()
                item = before.get(head)
                if item is None:
                    item = decode(payload, protocol, addrs, False)
                if item is not None:
                    now[head] = item
                return item

        try:
            return self._dump(request, parse)
        except NetlinkError as exc:
            if protocol == IPPROTO_RAW and exc.errno == errno.ENOENT:
                # Kernel without CONFIG_INET_RAW_DIAG: ss falls back to /proc/net/raw, so do we.
                self._raw_from_proc.add(family)
                return read_raw(self.proc_root, family)
            if exc.errno in _UNSUPPORTED:
                self._unsupported[(family, protocol)] = exc.strerror or str(exc)
                return []
            warnings.append(f"{_label(family, protocol)} dump failed: {exc.strerror}")
        except OSError as exc:
            warnings.append(f"{_label(family, protocol)} dump failed: {exc.strerror or exc}")
        return []

    def _dump_unix(self, warnings: list[str]) -> list[UnixSocket]:
        try:
            return self._dump(unix_diag.build_request(), unix_diag.decode)
        except OSError as exc:
            warnings.append(f"UNIX dump failed: {exc.strerror or exc}")
        return []

    def _dump_all(self, warnings: list[str]) -> tuple[dict[int, InetSocket], list[UnixSocket]]:
        self._addrs = inet_diag.AddressCache()
        inet: dict[int, InetSocket] = {}
        for family in (AF_INET, AF_INET6):
            for protocol in (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_RAW):
                for item in self._dump_inet(family, protocol, warnings):
                    # Dumps are not atomic snapshots: a socket moving between hash buckets can be
                    # seen twice. The cookie identifies it; /proc fallbacks have none (0).
                    inet[item.cookie or -item.inode] = item
                self._checkpoint()
        return inet, self._dump_unix(warnings)

    def cancel(self) -> None:
        """Make a collection running in another thread stop at its next checkpoint.

        A refresh takes seconds at 100k sockets and a thread cannot be interrupted; without this,
        quitting the app would wait for it. Sticky: meant for shutdown.
        """
        self._cancelled.set()

    def _checkpoint(self) -> None:
        if self._cancelled.is_set():
            raise CollectCancelledError("collection cancelled")

    # -- the snapshot --------------------------------------------------------------------------

    def collect(self) -> Snapshot:
        """Read everything once and return an immutable snapshot."""
        taken_at = time.time()
        start = time.perf_counter()
        warnings: list[str] = []
        owners = self._owners
        # A first refresh that would have to walk every process inline (no forked walker in a
        # threaded app) is delivered without owners when ``quick_start`` asks for it: the table
        # shows at once and the next refresh, right after, brings the owners.
        skip_owners = self.quick_start and not self._collected and not forkscan.fork_is_safe()
        want_owners = self.want_owners and not skip_owners
        # The first refresh (and the periodic safety net) walks every process: do it in a forked
        # child, in parallel with the dumps, when that is safe (see forkscan).
        pending = forkscan.start(self.proc_root) if want_owners and owners.needs_full_scan() else None
        try:
            inet, unix = self._dump_all(warnings)
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
        live = {s.inode for s in inet.values() if s.inode}
        live.update(u.inode for u in unix if u.inode)
        prepared = self._prepare_inet(inet.values())
        self._checkpoint()
        if pending is not None:
            scans = pending.result()
            if scans is not None:
                owners.load_full_scan(scans)
            else:
                owners.refresh(full=True)
        elif want_owners:
            owners.refresh(vanished=(self._prev_inodes - live) | self._prev_unbound)
        self._prev_inodes = live
        self._checkpoint()

        records = self._inet_records(prepared)
        records.extend(self._unix_records(unix))
        elsewhere = 0
        if want_owners:
            unbound, elsewhere = self._unbound_records(live)
            self._prev_unbound = {r.inode for r in unbound}
            records.extend(unbound)

        self._collected = True
        unreadable = owners.unreadable_pids if want_owners else 0
        hidden = ownerless = 0
        for r in records:
            if not r.owners:
                if r.inode and unreadable:
                    hidden += 1
                else:
                    ownerless += 1
        if self._unsupported:
            for (family, protocol), why in sorted(self._unsupported.items()):
                warnings.append(f"{_label(family, protocol)} sockets not listed: {why}")
        return Snapshot(
            sockets=tuple(records),
            taken_at=taken_at,
            duration=time.perf_counter() - start,
            hidden_owners=hidden,
            ownerless=ownerless,
            unreadable_pids=unreadable,
            euid=os.geteuid(),
            other_netns=elsewhere,
            owners_pending=skip_owners and self.want_owners,
            warnings=tuple(warnings),
            users=self._user_names(records),
            services=self.services,
        )

    def _prepare_inet(self, items: Iterable[InetSocket]) -> _PreparedInet:
        """Classify and pair inet sockets: everything that does not need the owners yet.

        Split from :meth:`_inet_records` so it runs while a forked owner walk is still going.
        Classification is memoised per (family, protocol, state).
        """
        classes: dict[tuple[int, int, int], _InetClass] = {}
        staged: list[tuple[InetSocket, _InetClass, int]] = []
        connected: list[ConnectedFlow] = []
        bound_udp: list[BoundFlow] = []
        inode_of: dict[int, int] = {}
        for s in items:
            cls = classes.get((s.family, s.protocol, s.state))
            if cls is None:
                cls = classes[(s.family, s.protocol, s.state)] = _classify_inet(s)
            key = s.cookie or -s.inode
            inode_of[key] = s.inode
            staged.append((s, cls, key))
            if cls[4] is Binding.CONNECTED:
                connected.append((key, cls[0], s.src, s.sport, s.dst, s.dport, cls[5]))
            elif cls[0] is Proto.UDP:
                bound_udp.append((key, s.src, s.sport))
        return staged, inet_peers(connected, bound_udp), inode_of

    def _inet_records(self, prepared: _PreparedInet) -> list[SocketRecord]:
        """Records for the inet sockets; the hot path of a refresh (runs for every socket).

        Two savings. A socket whose kernel entry, owners and peer are all as last time gets last
        time's record object back (a tuple comparison in C instead of building a record), which
        is most sockets on a refresh. Endpoints are shared: one object per address and port, kept
        from one refresh to the next.
        """
        staged, peers, inode_of = prepared
        owner_index = self._owners.index if self.want_owners else {}
        previous = self._previous
        current: dict[int, tuple[tuple[object, ...], SocketRecord]] = {}
        endpoints_before = self._endpoints
        endpoints: dict[tuple[str, int], InetEndpoint] = {}
        records: list[SocketRecord] = []
        append = records.append
        checkpoint = self._checkpoint
        no_owners: tuple[Owner, ...] = ()
        new = tuple.__new__
        connected = Binding.CONNECTED
        for n, (s, (proto, family, stype, state, binding, _closing), key) in enumerate(staged):
            if not n & 0x1FFF:
                checkpoint()
            peer_key = peers.get(key)
            inode = s.inode
            owners = owner_index.get(inode, no_owners) if inode else no_owners
            raw = (s, owners, peer_key)
            kept = previous.get(key)
            if kept is not None and kept[0] == raw:
                record = kept[1]
                # An inet endpoint is a tuple equal to (address, port): it is its own key.
                kept_local = cast(InetEndpoint, record.local)
                endpoints[kept_local] = kept_local
                if record.remote is not None:
                    kept_remote = cast(InetEndpoint, record.remote)
                    endpoints[kept_remote] = kept_remote
            else:
                where = (s.src, s.sport)
                local = endpoints.get(where) or endpoints_before.get(where) or InetEndpoint(*where)
                endpoints[where] = local
                remote: InetEndpoint | None = None
                if binding is connected:
                    there = (s.dst, s.dport)
                    remote = endpoints.get(there) or endpoints_before.get(there) or InetEndpoint(*there)
                    endpoints[there] = remote
                # Field order of SocketRecord; TIME_WAIT and request sockets have no owner and the
                # kernel reports uid 0 for them: no uid.
                record = new(
                    SocketRecord,
                    (
                        proto,
                        family,
                        stype,
                        state,
                        binding,
                        local,
                        remote,
                        inode,
                        s.uid if inode else None,
                        owners,
                        inode_of.get(peer_key or 0, 0) or None,  # keys are never 0
                        s.cookie or None,
                        peer_key,
                        s.ifindex,
                        (),
                        s.rqueue,
                        s.wqueue,
                        s.tcp_info,
                    ),
                )
            current[key] = (raw, record)
            append(record)
        self._previous = current
        self._endpoints = endpoints
        return records

    def _unix_records(self, items: list[UnixSocket]) -> list[SocketRecord]:
        by_inode = {u.inode: u for u in items if u.inode}
        # A client waiting in a listener's accept queue has no peer yet, but we know whom it called.
        waiting_on: dict[int, str | None] = {}
        for u in items:
            for client in u.icons:
                waiting_on[client] = u.name
        owners_of = self._owners.owners if self.want_owners else _no_owners
        records: list[SocketRecord] = []
        for u in items:
            state, binding = unix_state(u.type, u.state, u.name is not None, u.peer)
            peer = by_inode.get(u.peer) if u.peer else None
            remote: UnixEndpoint | None = None
            if binding is Binding.CONNECTED:
                if peer is not None:
                    remote = UnixEndpoint(peer.name)
                else:
                    remote = UnixEndpoint(waiting_on.get(u.inode))
            local = None if binding is Binding.UNBOUND else UnixEndpoint(u.name)
            records.append(
                SocketRecord(
                    proto=Proto.UNIX,
                    family=Family.UNIX,
                    type=_UNIX_TYPES.get(u.type, SockType.STREAM),
                    state=state,
                    binding=binding,
                    local=local,
                    remote=remote,
                    inode=u.inode,
                    uid=u.uid,
                    owners=owners_of(u.inode) if u.inode else (),
                    peer_inode=u.peer or None,
                    cookie=u.cookie or None,
                    peer_key=(peer.cookie or -peer.inode) if peer is not None else None,
                    pending=u.icons,
                    recv_q=u.rqueue,
                    send_q=u.wqueue,
                )
            )
        return records

    def _unbound_records(self, live: set[int]) -> tuple[list[SocketRecord], int]:
        """Sockets held by a process but in no kernel table: socket() was called, nothing else.

        A socket of another network namespace is in none of *our* tables either, whatever its
        state: one whose holders all live in another namespace is counted, not listed (calling a
        listener there "unbound" would be wrong). Returns the records and that count.
        """
        records: list[SocketRecord] = []
        elsewhere = 0
        owners = self._owners
        own_netns = self._netns
        candidates = [inode for inode in owners.socket_inodes() if inode not in live]
        # Forget the namespaces of sockets no longer held (their inode numbers may come back).
        self._socket_netns = {i: self._socket_netns[i] for i in candidates if i in self._socket_netns}
        for inode in candidates:
            holders = owners.owners(inode)
            name = owners.protocol_name(inode) or ""
            if own_netns and self._netns_of(inode, holders) not in (0, own_netns):
                elsewhere += name in _LISTED_KINDS
                continue
            kind = _UNBOUND_KINDS.get(name)
            if kind is None:
                continue
            proto, family, stype = kind
            records.append(
                SocketRecord(
                    proto=proto,
                    family=family,
                    type=stype,
                    state=UNCONN,
                    binding=Binding.UNBOUND,
                    local=None,
                    remote=None,
                    inode=inode,
                    uid=_owner_uid(self.proc_root, holders),
                    owners=holders,
                )
            )
        return records, elsewhere

    def _netns_of(self, inode: int, holders: tuple[Owner, ...]) -> int:
        """The network namespace a socket in none of our tables belongs to (0: unknown).

        Asked of the socket itself when we may (root); else the holders' namespace, which is the
        socket's unless it was passed across namespaces. Cached: a socket never changes namespace.
        """
        known = self._socket_netns.get(inode)
        if known is not None:
            return known
        for holder in holders:
            found = socket_netns(holder.pid, holder.fd)
            if found is not None:
                self._socket_netns[inode] = found
                return found
        spaces = {self._owners.netns(h.pid) for h in holders}
        return spaces.pop() if len(spaces) == 1 else 0

    def _user_names(self, records: Iterable[SocketRecord]) -> dict[int, str]:
        """Uid -> name for the uids in this snapshot; NSS lookups are cached (they can be slow)."""
        names: dict[int, str] = {}
        cache = self._users
        for uid in {r.uid for r in records if r.uid is not None}:
            if uid not in cache:
                try:
                    cache[uid] = pwd.getpwuid(uid).pw_name
                except (KeyError, OverflowError):
                    cache[uid] = None
            name = cache[uid]
            if name is not None:
                names[uid] = name
        return names


#: (proto, family, type, state name, binding, closing) of one (family, protocol, state) combination.
_InetClass = tuple[Proto, Family, SockType, str, Binding, bool]
#: Classified inet sockets, their local peers (key -> key) and inodes by key.
_PreparedInet = tuple[list[tuple[InetSocket, _InetClass, int]], dict[int, int], dict[int, int]]


def _classify_inet(s: InetSocket) -> _InetClass:
    proto = _PROTOS.get(s.protocol, Proto.RAW)
    state, binding = inet_state(proto, s.state)
    return proto, _FAMILIES[s.family], _INET_TYPES[proto], state, binding, state == "TIME_WAIT"


def _no_owners(inode: int) -> tuple[Owner, ...]:
    return ()


def _owner_uid(proc_root: str, holders: tuple[Owner, ...]) -> int | None:
    """The uid of an unbound socket's first holder.

    The kernel tables, which know a socket's uid, do not list unbound sockets.
    """
    for holder in holders:
        try:
            return os.stat(f"{proc_root}/{holder.pid}").st_uid
        except OSError:
            continue
    return None


def _label(family: int, protocol: int) -> str:
    proto = _PROTOS.get(protocol, Proto.RAW).value.upper()
    return f"{proto}/{'IPv4' if family == AF_INET else 'IPv6'}"


def collect_snapshot(proc_root: str = "/proc", services: ServiceTable | None = None) -> Snapshot:
    """One snapshot from a fresh collector (for ``--once`` and scripts)."""
    if not sys.platform.startswith("linux"):
        from sockui.collect.fallback import collect_portable

        return collect_portable()
    with Collector(proc_root, services=services) as collector:
        return collector.collect()
