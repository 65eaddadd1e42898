"""The kernel's socket tables of one network namespace: every inet and UNIX socket, read by sock_diag.

sock_diag answers for the namespace its netlink socket was made in, so the collector keeps one
:class:`TableReader` per namespace, each with that namespace's socket. A reader keeps, between
refreshes, what makes the next read cheaper: the decoded form of every message that reads the same
as last time (most of them), and which protocols the kernel does not have.

Where the netlink socket cannot even be made (a seccomp filter or an LSM refusing AF_NETLINK, a
kernel without sock_diag), the reader reads the namespace's /proc/net files instead, as ss would
have to, and says so once per snapshot: a listing with less in it beats an empty one.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TypeVar

from sockui.collect import inet_diag, unix_diag
from sockui.collect.inet_diag import InetSocket
from sockui.collect.netlink import NetlinkError, NetlinkSocket
from sockui.collect.netns import NetnsError
from sockui.collect.proc_net import read_inet, read_raw, read_unix
from sockui.collect.unix_diag import UnixSocket
from sockui.model.kernel import AF_INET, AF_INET6, IPPROTO_RAW, IPPROTO_TCP, IPPROTO_UDP

_T = TypeVar("_T")

#: Errors after which a protocol is not worth asking again: the kernel lacks the family or protocol.
#: Anything else (EBUSY, a timeout, a malformed reply) gets a fresh socket and one more try.
UNSUPPORTED = (errno.ENOENT, errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT, errno.EINVAL)

#: Errors of socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG) that will not go away while sockui runs:
#: refused by a seccomp filter or an LSM (EACCES, EPERM), no netlink or no sock_diag in the kernel
#: (EAFNOSUPPORT, EPROTONOSUPPORT, ESOCKTNOSUPPORT). Others (EMFILE, ENOBUFS) may pass: they make
#: one refresh read /proc/net, and the next one tries netlink again.
REFUSED = (errno.EACCES, errno.EPERM, errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT)

#: How a refusal starts, followed by the error's text.
CREATE_REFUSED = "creating a NETLINK_SOCK_DIAG socket failed: "

_NAMES = {IPPROTO_TCP: "TCP", IPPROTO_UDP: "UDP", IPPROTO_RAW: "RAW"}


def fallback_note(why: str) -> str:
    """The one sentence said (stderr, the TUI's notifications) when /proc/net stands in for netlink."""
    return (
        f"netlink sock_diag is unavailable ({why}): sockets are read from /proc/net instead, without"
        " UNIX peers, TCP internals or byte counts; TCP sockets that are only bound show as unbound"
    )


def table_label(family: int, protocol: int) -> str:
    """``TCP/IPv4``."""
    return f"{_NAMES.get(protocol, 'RAW')}/{'IPv4' if family == AF_INET else 'IPv6'}"


class KernelSupport:
    """What the running kernel cannot dump, shared by every namespace's reader (same kernel)."""

    def __init__(self) -> None:
        #: (family, protocol) -> why not; not asked again, reported once per snapshot.
        self.unsupported: dict[tuple[int, int], str] = {}
        #: Families whose RAW sockets come from /proc/net/raw (a kernel without raw diag).
        self.raw_from_proc: set[int] = set()


class TableReader:
    """Reads one namespace's sockets through a netlink socket made in it.

    ``connect`` makes that socket (in the namespace); the reader calls it again after a failure
    that leaves the socket in an unknown state. ``proc_dir`` is a /proc directory that shows the
    namespace's ``net/raw`` (``/proc/PID`` of a process inside it), for kernels without raw diag.
    Not thread-safe: one owner, the refresh loop.
    """

    def __init__(
        self,
        netns: int,
        connect: Callable[[], NetlinkSocket],
        proc_dir: str,
        support: KernelSupport,
        tcp_info: bool = False,
    ) -> None:
        self.netns = netns
        self._connect = connect
        self.proc_dir = proc_dir
        self._support = support
        self.want_tcp_info = tcp_info
        self._nl: NetlinkSocket | None = None
        #: Why no netlink socket can be made here (for good): reads come from /proc/net. None: netlink.
        self.unavailable: str | None = None
        #: (family, protocol) -> a socket's fixed message bytes -> its decoded form, from last refresh.
        self._decoded: dict[tuple[int, int], dict[bytes, InetSocket]] = {}
        #: cookie -> (bytes_acked, bytes_received) of each TCP socket, from the last read while
        #: ``want_tcp_info`` (for rates); empty otherwise.
        self.counters: dict[int, tuple[int, int]] = {}

    def close(self) -> None:
        """Release the netlink socket (which pins its namespace alive)."""
        if self._nl is not None:
            self._nl.close()
            self._nl = None

    def _netlink(self) -> NetlinkSocket:
        if self._nl is not None and self._nl.broken:
            self.close()
        if self._nl is None:
            self._nl = self._connect()
        return self._nl

    def open(self) -> None:
        """Make the netlink socket now; remember it for good if it is refused (:data:`REFUSED`).

        Raises what making it raised otherwise (a namespace that cannot be entered, EMFILE).
        """
        try:
            self._netlink()
        except OSError as exc:
            if not _refused(exc):
                raise
            self.unavailable = f"{CREATE_REFUSED}{exc.strerror or exc}"

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
                if exc.errno in UNSUPPORTED or attempt == 2:
                    raise
                self.close()
            except OSError:
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def inet(
        self, family: int, protocol: int, addrs: inet_diag.AddressCache, warnings: list[str]
    ) -> list[InetSocket]:
        """Every socket of one family and protocol (RAW from /proc/net/raw where the kernel lacks it)."""
        support = self._support
        if (family, protocol) in support.unsupported:
            return []
        if protocol == IPPROTO_RAW and family in support.raw_from_proc:
            return read_raw(self.proc_dir, family)
        # Rates need two counters of tcp_info; the full struct (and congestion control) is for the
        # detail pane and the follow view, which ask for one socket at a time (collect/query.py).
        rates = protocol == IPPROTO_TCP and self.want_tcp_info
        ext = inet_diag.EXT_INFO if rates else 0
        request = inet_diag.build_request(family, protocol, ext)
        decode = inet_diag.decode
        if protocol == IPPROTO_RAW:  # RAW replies name the real protocol in an attribute
            parse: Callable[[memoryview], InetSocket | None] = lambda p: decode(p, protocol, addrs, True)  # noqa: E731
        else:
            # A socket is its fixed 72-byte message (the attributes we read are not part of it): one
            # that reads as it did last refresh (most of them) gets last refresh's decoded object,
            # for a bytes comparison.
            before = self._decoded.get((family, protocol), {})
            now: dict[bytes, InetSocket] = {}
            self._decoded[(family, protocol)] = now
            counters = self.counters
            find_counters = inet_diag.info_counters

            def parse(payload: memoryview) -> InetSocket | None:
                head = payload[: inet_diag.MSG_SIZE].tobytes()
                item = before.get(head)
                if item is None:
                    item = decode(payload, protocol, addrs, False)
                if item is not None:
                    now[head] = item
                    if rates and (found := find_counters(payload)) is not None:
                        counters[item.cookie] = found
                return item

        try:
            return self._dump(request, parse)
        except NetlinkError as exc:
            if protocol == IPPROTO_RAW and exc.errno == errno.ENOENT:
                # Kernel without CONFIG_INET_RAW_DIAG: ss falls back to /proc/net/raw, so do we.
                support.raw_from_proc.add(family)
                return read_raw(self.proc_dir, family)
            if exc.errno in UNSUPPORTED:
                support.unsupported[(family, protocol)] = exc.strerror or str(exc)
                return []
            warnings.append(f"{table_label(family, protocol)} dump failed: {exc.strerror}")
        except OSError as exc:
            warnings.append(f"{table_label(family, protocol)} dump failed: {exc.strerror or exc}")
        return []

    def unix(self, warnings: list[str]) -> list[UnixSocket]:
        """Every UNIX socket of the namespace."""
        try:
            return self._dump(unix_diag.build_request(), unix_diag.decode)
        except OSError as exc:
            warnings.append(f"UNIX dump failed: {exc.strerror or exc}")
        return []

    def read(
        self, addrs: inet_diag.AddressCache, warnings: list[str], checkpoint: Callable[[], None]
    ) -> tuple[dict[int, InetSocket], list[UnixSocket]]:
        """Every inet socket (by key, deduplicated) and every UNIX socket of the namespace."""
        self.counters = {}
        if self.unavailable is None and self._nl is None:
            try:
                self.open()
            except OSError as exc:
                if _entering(exc):
                    pass  # the dumps below fail the same way and say so, table by table, as always
                else:
                    return self._read_proc(warnings, f"{exc.strerror or exc}, this time")
        if self.unavailable is not None:
            return self._read_proc(warnings, self.unavailable)
        inet: dict[int, InetSocket] = {}
        for family in (AF_INET, AF_INET6):
            for protocol in (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_RAW):
                for item in self.inet(family, protocol, addrs, warnings):
                    # Dumps are not atomic snapshots: a socket moving between hash buckets can be
                    # seen twice. The cookie identifies it; /proc fallbacks have none (0).
                    inet[item.cookie or -item.inode] = item
                checkpoint()
        return inet, self.unix(warnings)

    def _read_proc(self, warnings: list[str], why: str) -> tuple[dict[int, InetSocket], list[UnixSocket]]:
        """The namespace's tables from ``proc_dir``/net, and a warning saying so."""
        warnings.append(fallback_note(why))
        inet: dict[int, InetSocket] = {}
        for family in (AF_INET, AF_INET6):
            for protocol in (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_RAW):
                for item in read_inet(self.proc_dir, family, protocol, self.netns):
                    inet[item.cookie or -item.inode] = item
        return inet, read_unix(self.proc_dir)


def _entering(exc: OSError) -> bool:
    """True for a failure to enter a namespace (:class:`NetnsError`), not to make a socket in it."""
    return isinstance(exc, NetnsError)


def _refused(exc: OSError) -> bool:
    """True when making the netlink socket failed for good (see :data:`REFUSED`)."""
    return not _entering(exc) and exc.errno in REFUSED
