"""Build a :class:`Snapshot`: every socket of every network namespace, with owners, binding states, peers.

One :class:`Collector` lives as long as the app and keeps what is worth keeping between refreshes: one
sock_diag socket per network namespace (made inside it; see ``collect/netns.py``), the owner map, the
records of unchanged sockets, user names, namespace labels. It is not thread-safe; the refresh loop
runs it from one thread.
"""

from __future__ import annotations

import os
import pwd
import sys
import threading
import time
from collections.abc import Callable, Iterable

from sockui.collect import forkscan, inet_diag
from sockui.collect.loop import CollectCancelledError
from sockui.collect.netlink import NetlinkSocket
from sockui.collect.netns import Netns, NetnsDiscovery, NetnsError, discover, open_in_netns
from sockui.collect.netns_labels import NetnsLabel, label_namespaces
from sockui.collect.procfs import OwnerMap, netns_of
from sockui.collect.records import NamespaceTables, RecordBuilder, prepare_inet, unix_records
from sockui.collect.services import load_services
from sockui.collect.sockns import socket_netns
from sockui.collect.tables import KernelSupport, TableReader, table_label
from sockui.model.binding import UNCONN
from sockui.model.netns import HOST, NamespaceInfo
from sockui.model.services import ServiceTable
from sockui.model.socket import Binding, Family, Owner, Proto, Snapshot, SocketRecord, SockType

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

__all__ = ["CollectCancelledError", "Collector", "collect_snapshot"]


class Collector:
    """Collects snapshots of every network namespace it may enter; keeps state between calls."""

    def __init__(
        self,
        proc_root: str = "/proc",
        owners: bool = True,
        tcp_info: bool = False,
        services: ServiceTable | None = None,
        quick_start: bool = False,
        namespaces: bool = True,
        tcp_info_wanted: Callable[[], bool] | None = None,
    ) -> None:
        """Set up a collector.

        Args:
            proc_root: where procfs is mounted (tests point it at a fake tree).
            owners: walk /proc for the processes holding each socket.
            tcp_info: always ask the TCP dumps for ``tcp_info``, whose byte counters give each TCP
                record its ``rate``. Off by default: it makes the dump ~4x bigger, while only the
                Rate column and its sort need it (the detail and follow views ask for the whole
                tcp_info of one socket at a time, through :mod:`sockui.collect.query`).
            services: the port names every snapshot carries; read from /etc/services when None.
            quick_start: deliver the first snapshot before the first walk of every process's fds
                when that walk would run inline (the TUI: threads rule out the forked walker), so
                the table shows at once; the snapshot says ``owners_pending``.
            namespaces: read every network namespace in use (needs root for all but our own); False
                reads sockui's own namespace only (as does a fake ``proc_root``).
            tcp_info_wanted: asked before each collection (from the collecting thread): True does
                what ``tcp_info`` does for that collection (the TUI, while it shows rates).
        """
        self.quick_start = quick_start
        self._collected = False
        self.proc_root = proc_root
        self.services = load_services() if services is None else services
        self.want_owners = owners
        self.want_tcp_info = tcp_info
        self._tcp_info_wanted = tcp_info_wanted
        self.all_namespaces = namespaces and proc_root == "/proc"
        self._owners = OwnerMap(proc_root)
        self._support = KernelSupport()
        self._readers: dict[int, TableReader] = {}
        #: Namespaces that could not be entered: inode -> (the path tried, the reason).
        self._failed: dict[int, tuple[str | None, str]] = {}
        self._labels: dict[int, NetnsLabel] = {}
        self._labelled: tuple[tuple[int, tuple[int, ...]], ...] = ()
        self._builder = RecordBuilder()
        self._prev_inodes: set[int] = set()
        #: Never-bound sockets reported last time. They are in no kernel table, so their closing
        #: never shows up as "vanished"; their holders are rescanned every refresh instead (few).
        self._prev_unbound: set[int] = set()
        self._users: dict[int, str | None] = {}
        self._cancelled = threading.Event()
        #: inode -> network namespace of sockets found only through fd tables (see _netns_of).
        self._socket_netns: dict[int, int] = {}

    def close(self) -> None:
        """Release every netlink socket (each pins its namespace alive)."""
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cancel(self) -> None:
        """Make a collection running in another thread stop at its next checkpoint.

        A refresh takes seconds at 100k sockets and a thread cannot be interrupted; without this,
        quitting the app would wait for it. Sticky: meant for shutdown.
        """
        self._cancelled.set()

    def _checkpoint(self) -> None:
        if self._cancelled.is_set():
            raise CollectCancelledError("collection cancelled")

    # -- namespaces ----------------------------------------------------------------------------

    def _discover(self) -> NetnsDiscovery:
        if self.all_namespaces:
            return discover(self.proc_root)
        own = netns_of(self.proc_root, os.getpid()) if self.proc_root == "/proc" else 0
        return NetnsDiscovery((Netns(own, 0, True, None, None, (), (), ()),))

    def _readers_for(self, discovery: NetnsDiscovery) -> list[tuple[Netns, TableReader]]:
        """A reader for every namespace that can be entered; the others remembered with the reason."""
        current = {ns.inode for ns in discovery.namespaces}
        for inode in [i for i in self._readers if i not in current]:
            self._readers.pop(inode).close()
        self._failed = {i: f for i, f in self._failed.items() if i in current}
        readers: list[tuple[Netns, TableReader]] = []
        for ns in discovery.namespaces:
            reader = self._readers.get(ns.inode)
            if reader is None:
                failed = self._failed.get(ns.inode)
                if failed is not None and failed[0] == ns.path:
                    continue  # privilege does not change while sockui runs
                reader = self._reader(ns)
                if reader is None:
                    continue
            readers.append((ns, reader))
        return readers

    def _reader(self, ns: Netns) -> TableReader | None:
        proc_dir = self.proc_root if ns.own else f"{self.proc_root}/{ns.pid}"
        if ns.own:
            reader = TableReader(ns.inode, NetlinkSocket, proc_dir, self._support, self.want_tcp_info)
        elif ns.path is None:
            self._failed[ns.inode] = (None, "no way into it could be opened (needs root)")
            return None
        else:
            path, inode = ns.path, ns.inode

            def connect() -> NetlinkSocket:
                return open_in_netns(path, NetlinkSocket, expect_inode=inode)

            reader = TableReader(ns.inode, connect, proc_dir, self._support, self.want_tcp_info)
            try:  # enter now: a namespace that cannot be entered is said once, not each refresh
                reader.open()
            except NetnsError as exc:
                self._failed[ns.inode] = (ns.path, str(exc))
                return None
            except OSError as exc:
                self._failed[ns.inode] = (ns.path, f"cannot read its sockets: {exc.strerror or exc}")
                return None
            if reader.unavailable is not None and not ns.pid:
                # Entered, but no netlink socket may be made in it, and no process of its own shows
                # its /proc/PID/net to read instead.
                self._failed[ns.inode] = (ns.path, f"cannot read its sockets: {reader.unavailable}")
                return None
        self._readers[ns.inode] = reader
        return reader

    def _label_all(self, discovery: NetnsDiscovery) -> dict[int, NetnsLabel]:
        """Labels of the namespaces, worked out again only when they or their processes change."""
        seen = tuple((ns.inode, ns.pids) for ns in discovery.namespaces)
        if seen != self._labelled:
            if self.all_namespaces:
                self._labels = label_namespaces(discovery, self.proc_root, self._owners.names)
            else:
                own = discovery.namespaces[0].inode
                self._labels = {own: NetnsLabel(own, HOST, "host")}
            self._labelled = seen
        return self._labels

    def _namespace_infos(
        self, discovery: NetnsDiscovery, labels: dict[int, NetnsLabel]
    ) -> dict[int, NamespaceInfo]:
        infos: dict[int, NamespaceInfo] = {}
        for ns in discovery.namespaces:
            label = labels.get(ns.inode)
            failed = self._failed.get(ns.inode)
            container = label.container.short_id if label is not None and label.container else None
            infos[ns.inode] = NamespaceInfo(
                inode=ns.inode,
                label=label.label if label is not None else f"net:[{ns.inode}]",
                own=ns.own,
                ip_name=ns.name,
                container=container,
                pid=ns.pid or (ns.pids[0] if ns.pids else None),
                path=ns.path,
                unread=failed[1] if failed is not None else None,
            )
        return infos

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
            discovery = self._discover()
            labels = self._label_all(discovery)
            wanted = self._tcp_info_wanted
            tcp_info = self.want_tcp_info or (wanted is not None and wanted())
            addrs = inet_diag.AddressCache()
            tables: list[NamespaceTables] = []
            for ns, reader in self._readers_for(discovery):
                reader.want_tcp_info = tcp_info
                label = labels[ns.inode].label if ns.inode in labels else f"net:[{ns.inode}]"
                inet, unix = reader.read(addrs, warnings, self._checkpoint)
                tables.append(NamespaceTables(ns.inode, label, inet, unix, reader.counters))
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
        live = {s.inode for t in tables for s in t.inet.values() if s.inode}
        live.update(u.inode for t in tables for u in t.unix if u.inode)
        prepared = prepare_inet(tables)
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

        owner_index = owners.index if want_owners else {}
        records = self._builder.inet_records(prepared, owner_index, self._checkpoint, taken_at)
        records.extend(unix_records(tables, owners.owners if want_owners else _no_owners))
        read = {t.netns: t.label for t in tables}
        elsewhere = 0
        if want_owners:
            unbound, elsewhere = self._unbound_records(live, read)
            self._prev_unbound = {r.inode for r in unbound}
            records.extend(unbound)

        self._collected = True
        unreadable = owners.unreadable_pids if want_owners else 0
        # Processes /proc does not even list (hidepid) hide their sockets' owners as surely as the
        # ones whose fd tables refuse us: without this, those sockets would pass for ownerless.
        invisible = owners.invisible if want_owners else None
        if invisible is not None:
            warnings.append(f"{invisible}, so their sockets are listed without owners")
        hidden = ownerless = 0
        for r in records:
            if not r.owners:
                if r.inode and (unreadable or invisible):
                    hidden += 1
                else:
                    ownerless += 1
        for (family, protocol), why in sorted(self._support.unsupported.items()):
            warnings.append(f"{table_label(family, protocol)} sockets not listed: {why}")
        return Snapshot(
            sockets=tuple(records),
            taken_at=taken_at,
            duration=time.perf_counter() - start,
            hidden_owners=hidden,
            ownerless=ownerless,
            unreadable_pids=unreadable,
            euid=os.geteuid(),
            other_netns=elsewhere,
            namespaces=self._namespace_infos(discovery, labels),
            owners_pending=skip_owners and self.want_owners,
            warnings=tuple(dict.fromkeys(warnings)),
            users=self._user_names(records),
            services=self.services,
        )

    def _unbound_records(self, live: set[int], read: dict[int, str]) -> tuple[list[SocketRecord], int]:
        """Sockets held by a process but in no kernel table: socket() was called, nothing else.

        A socket of a namespace whose tables could not be read is in none of the tables read either,
        whatever its state: it is counted, not listed (calling a listener there "unbound" would be
        wrong). Returns the records and that count.
        """
        records: list[SocketRecord] = []
        elsewhere = 0
        owners = self._owners
        candidates = [inode for inode in owners.socket_inodes() if inode not in live]
        # Forget the namespaces of sockets no longer held (their inode numbers may come back).
        self._socket_netns = {i: self._socket_netns[i] for i in candidates if i in self._socket_netns}
        own = next(iter(read), 0)
        for inode in candidates:
            holders = owners.owners(inode)
            name = owners.protocol_name(inode) or ""
            netns = self._netns_of(inode, holders) or own
            if netns not in read:
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
                    netns=netns,
                    netns_label=read[netns],
                )
            )
        return records, elsewhere

    def _netns_of(self, inode: int, holders: tuple[Owner, ...]) -> int:
        """The network namespace a socket in none of the tables belongs to (0: unknown).

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


def collect_snapshot(proc_root: str = "/proc", services: ServiceTable | None = None) -> Snapshot:
    """One snapshot from a fresh collector (for ``--once`` and scripts)."""
    if not sys.platform.startswith("linux"):
        from sockui.collect.fallback import collect_portable

        return collect_portable()
    with Collector(proc_root, services=services) as collector:
        return collector.collect()
