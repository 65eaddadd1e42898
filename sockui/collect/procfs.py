"""Socket owners from /proc: inode -> (pid, fd), kept between refreshes and updated incrementally.

Walking every process's fd table costs ~4.5 µs per fd plus ~17 µs per process (docs/sock_diag.md
section 9), too slow to repeat each second at 100k sockets. So the map is kept, and a refresh rescans
only the processes that may have changed: new pids, pids whose fd count (``st_size`` of
``/proc/PID/fd``, cheap to stat) changed, and pids that held a socket which vanished from the kernel's
tables. Those signals miss an fd number that moved to another socket while the socket it held lives on
elsewhere (``dup2`` over it, or close and reopen while a forked child still holds the old one): the
count is the same and nothing vanished. Such a socket is by then held by more than one (pid, fd), so
every refresh re-reads the links of shared sockets (a few per process: cheap) and rescans a process
whose link no longer names the socket; without that, the process would be shown owning a socket it
no longer holds. A full walk still runs now and then to catch what the signals miss otherwise (a
non-socket fd closed and a socket opened in the same refresh interval: an owner found late, never a
wrong one).

Processes exit and close fds while we read: every race (ENOENT, ESRCH, EACCES) is absorbed here; a pid
that vanished simply drops out of the map so no stale owner is reported.

Processes we may not look into are counted (:attr:`OwnerMap.unreadable_pids`), so that the sockets
they may hold are said to have hidden owners rather than none. With ``/proc`` mounted ``hidepid=1``
(``noaccess``) their directories are listed but refuse even a stat, and with ``hidepid=2``
(``invisible``) they are not listed at all: :func:`hidden_processes` reads the mount options to say so.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from sockui.collect.netns_labels import ContainerNames, process_label
from sockui.model.socket import Owner

_SOCKET_PREFIX = "socket:["

#: Errors that mean "this process or fd went away, or is not ours to see".
_GONE = (errno.ENOENT, errno.ESRCH, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EINVAL)


@dataclass(slots=True)
class _Proc:
    """What we remember of one process between refreshes."""

    fd_count: int
    name: str
    #: fd -> socket inode, for socket fds only.
    sockets: dict[int, int] = field(default_factory=dict)
    readable: bool = True
    #: Inode of the process's network namespace (0: unknown).
    netns: int = 0


def read_comm(proc_root: str, pid: int) -> str:
    """The process name from ``comm``; '' if the process is gone.

    Only the one trailing newline the kernel adds is stripped: the name itself may hold newlines,
    escapes or anything a process chose to call itself (prctl PR_SET_NAME).
    """
    try:
        with open(f"{proc_root}/{pid}/comm", "rb") as fh:
            raw = fh.read()
    except OSError:
        return ""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    return raw.decode("utf-8", "surrogateescape")


def list_pids(proc_root: str) -> list[int]:
    """Every process id (thread group) in ``proc_root``; none if it does not exist.

    Any other failure (EMFILE when the process is out of file descriptors, ENOMEM) raises: an empty
    list would read as "no processes", and a refresh would show no sockets and drop every owner
    instead of failing, which the status line reports while the last good snapshot stays.
    """
    try:
        names = os.listdir(proc_root)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [int(n) for n in names if n.isdigit()]


def scan_fds(proc_root: str, pid: int) -> dict[int, int] | None:
    """Fd -> socket inode for one process; None when its fd table cannot be read (privilege).

    Raises FileNotFoundError when the process is gone, so the caller can drop it.
    """
    try:
        dir_fd = os.open(f"{proc_root}/{pid}/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except PermissionError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ESRCH):
            raise FileNotFoundError(exc.errno, exc.strerror) from exc
        return None
    result: dict[int, int] = {}
    try:
        try:
            names = os.listdir(dir_fd)
        except PermissionError:
            return None
        except OSError as exc:
            raise FileNotFoundError(exc.errno, exc.strerror) from exc
        readlink = os.readlink
        for name in names:
            try:
                target = readlink(name, dir_fd=dir_fd)
            except PermissionError:
                # Listing worked but the links are guarded (ptrace access mode, e.g. a sandbox's
                # init even for root): as unreadable as a directory we cannot open.
                return None
            except OSError:
                continue  # the fd was closed while we listed: not an owner any more
            if target.startswith(_SOCKET_PREFIX):
                try:
                    result[int(name)] = int(target[8:-1])
                except ValueError:
                    continue
    finally:
        os.close(dir_fd)
    return result


def netns_of(proc_root: str, pid: int) -> int:
    """Inode of ``pid``'s network namespace (``/proc/PID/ns/net``); 0 when it cannot be read.

    Reading it needs the same ptrace access as the fd table, so a process whose fds we can list is
    one whose namespace we can tell.
    """
    try:
        return os.stat(f"{proc_root}/{pid}/ns/net").st_ino
    except OSError:
        return 0


#: :func:`fd_count` of a process that is gone.
GONE = -1
#: :func:`fd_count` of a process that exists but whose /proc directory refuses us (``hidepid=1``).
DENIED = -2


def fd_count(proc_root: str, pid: int) -> int:
    """Number of open fds (``st_size`` of the fd directory, readable even for other users).

    :data:`GONE` when the process exited; :data:`DENIED` when /proc will not even stat it for us
    (mounted ``hidepid=1``): it exists, and whatever it holds is hidden from us.
    """
    try:
        return os.stat(f"{proc_root}/{pid}/fd").st_size
    except PermissionError:
        return DENIED
    except OSError:
        return GONE


#: ``hidepid`` values (both spellings) under which /proc leaves other users' processes out of its
#: listing: we cannot even count them. ``noaccess`` (1) lists them, and they are counted as unreadable.
_INVISIBLE = {"2": "invisible", "invisible": "invisible", "4": "ptraceable", "ptraceable": "ptraceable"}
_CAP_SYS_PTRACE = 19


def _mount_options(proc_root: str, mountinfo: str) -> dict[str, str] | None:
    """Super block options of the proc mount at ``proc_root`` (the topmost one), or None."""
    target = os.path.realpath(proc_root)
    found: dict[str, str] | None = None
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in lines:
        # id parent major:minor root mountpoint options [optional fields...] - fstype source superoptions
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(rest) < 3 or rest[0] != "proc":
            continue
        if fields[4].replace(r"\040", " ") != target:  # mountinfo writes a space as \040
            continue
        found = {}
        for option in rest[2].split(","):
            key, _, value = option.partition("=")
            found[key] = value
    return found


def _can_see_through(gid: str | None) -> bool:
    """True when hidepid does not apply to us: CAP_SYS_PTRACE, or membership of the mount's ``gid=``."""
    if gid is not None and gid.isdigit() and (int(gid) == os.getegid() or int(gid) in os.getgroups()):
        return True
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> _CAP_SYS_PTRACE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return os.geteuid() == 0


def hidden_processes(proc_root: str = "/proc", mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """Why other users' processes are missing from ``proc_root``'s listing, or None when they are not.

    That is ``hidepid=2`` (``invisible``) or ``hidepid=4`` (``ptraceable``) without the privilege that
    sees through it: their sockets are in the kernel's tables but no fd table we can list holds them.
    """
    options = _mount_options(proc_root, mountinfo)
    if options is None:
        return None
    mode = _INVISIBLE.get(options.get("hidepid", ""))
    if mode is None or _can_see_through(options.get("gid")):
        return None
    return f"{proc_root} is mounted with hidepid={mode}: other users' processes are invisible"


#: What one process holds: (pid, fd count, name, fd -> socket inode or None when unreadable, network
#: namespace inode or 0, container / unit label or None). A plain tuple so that a forked walker can
#: hand thousands of them over with ``marshal``.
ProcScan = tuple[int, int, str, dict[int, int] | None, int, str | None]


def scan_process(
    proc_root: str, pid: int, count: int | None = None, names: ContainerNames | None = None
) -> ProcScan | None:
    """Read one process's socket fds, name, namespace and container; None when it exited meanwhile.

    The namespace and the container (``/proc/PID/cgroup``) are only read for processes that hold
    sockets: a few microseconds each, not worth spending on the rest.
    """
    if count is None:
        count = fd_count(proc_root, pid)
        if count == GONE:
            return None
    if count == DENIED:
        return pid, count, read_comm(proc_root, pid), None, 0, None
    try:
        sockets = scan_fds(proc_root, pid)
    except FileNotFoundError:
        return None
    netns = netns_of(proc_root, pid) if sockets else 0
    label = process_label(pid, proc_root, names) if sockets else None
    return pid, count, read_comm(proc_root, pid), sockets, netns, label


def scan_all(
    proc_root: str, skip_pid: int | None = None, names: ContainerNames | None = None
) -> list[ProcScan]:
    """Walk every process (but ``skip_pid``: a forked walker must not report itself)."""
    result: list[ProcScan] = []
    names = names if names is not None else ContainerNames()
    for pid in list_pids(proc_root):
        if pid == skip_pid:
            continue
        scan = scan_process(proc_root, pid, names=names)
        if scan is not None:
            result.append(scan)
    return result


def _owner_order(owner: Owner) -> tuple[int, int]:
    return owner.pid, owner.fd


class OwnerMap:
    """inode -> [(pid, fd)] for every process we can read, maintained across refreshes."""

    #: Seconds between full walks of every process (the safety net for changes the cheap signals miss).
    FULL_SCAN_EVERY = 30.0

    def __init__(self, proc_root: str = "/proc") -> None:
        self.proc_root = proc_root
        #: Container names from runtimes' state files, cached across refreshes.
        self.names = ContainerNames()
        self._procs: dict[int, _Proc] = {}
        #: inode -> holders, sorted by (pid, fd); tuples of model objects so that the snapshot
        #: builder hands them out as they are, with no per-socket allocation.
        self._index: dict[int, tuple[Owner, ...]] = {}
        self._last_full = 0.0
        self._scanned_last = 0
        self._protonames: dict[int, str | None] = {}
        #: Inodes held by more than one (pid, fd): where an fd moved to another socket hides.
        self._shared: set[int] = set()
        #: Why some processes are missing from the listing (see :func:`hidden_processes`), or None.
        #: Checked at every full walk: mount options do not change under a running sockui, mostly.
        self.invisible: str | None = None

    @property
    def scanned_last(self) -> int:
        """How many processes the last refresh rescanned (for the status bar and benchmarks)."""
        return self._scanned_last

    @property
    def unreadable_pids(self) -> int:
        """Processes whose fd table we could not read for lack of privilege."""
        return sum(1 for p in self._procs.values() if not p.readable)

    @property
    def index(self) -> Mapping[int, tuple[Owner, ...]]:
        """Map of inode -> holders, read-only, for hot loops that look up every socket."""
        return self._index

    def owners(self, inode: int) -> tuple[Owner, ...]:
        """Holders of ``inode`` sorted by (pid, fd); empty when none is visible."""
        return self._index.get(inode, ())

    def name(self, pid: int) -> str:
        """The process name recorded at its last scan."""
        proc = self._procs.get(pid)
        return proc.name if proc else ""

    def netns(self, pid: int) -> int:
        """Inode of the network namespace ``pid`` was in at its last scan (0: unknown)."""
        proc = self._procs.get(pid)
        return proc.netns if proc else 0

    def socket_inodes(self) -> Iterable[int]:
        """Every socket inode found in a readable fd table."""
        return self._index.keys()

    def needs_full_scan(self) -> bool:
        """True when the next refresh will walk every process (first run, or the periodic net)."""
        return time.monotonic() - self._last_full >= self.FULL_SCAN_EVERY

    def refresh(self, vanished: Collection[int] = (), full: bool = False) -> None:
        """Bring the map up to date.

        ``vanished`` are inodes that were in the kernel's tables last time and are gone now: their
        holders closed something, so they are rescanned even if their fd count looks unchanged.
        """
        now = time.monotonic()
        if not full and now - self._last_full >= self.FULL_SCAN_EVERY:
            full = True
        if full:
            self.load_full_scan(scan_all(self.proc_root, names=self.names))
            return
        root = self.proc_root
        pids = list_pids(root)
        current = set(pids)
        for pid in [p for p in self._procs if p not in current]:
            self._drop(pid)
        suspects: set[int] = set()
        for inode in vanished:
            for holder in self._index.get(inode, ()):
                suspects.add(holder.pid)
        fresh: set[int] = set()
        for pid in pids:
            proc = self._procs.get(pid)
            count = fd_count(root, pid)
            if count == GONE:
                if proc is not None:
                    self._drop(pid)
                continue
            if proc is not None and proc.fd_count == count and pid not in suspects:
                continue
            fresh.add(pid)
            self._rescan(pid, count)
        # After the rescans, so that a new process sharing a socket is in the index already.
        moved = self._moved_shared_fds(fresh)
        for pid in moved:
            self._rescan(pid, None)
        self._scanned_last = len(fresh) + len(moved)

    def _rescan(self, pid: int, count: int | None) -> None:
        scan = scan_process(self.proc_root, pid, count, self.names)
        if scan is None:
            self._drop(pid)
        else:
            self._apply(scan)

    def _moved_shared_fds(self, fresh: set[int]) -> set[int]:
        """Pids not rescanned this time whose fd for a shared socket now holds something else.

        One readlink per (pid, fd) holding a socket that someone else holds too. A socket whose fd
        moved on but which stays open is necessarily held elsewhere as well (else it would have
        vanished and its holders been rescanned), so checking shared sockets is enough to never
        show such an owner again after the refresh it changed in.
        """
        root, index = self.proc_root, self._index
        moved: set[int] = set()
        readlink = os.readlink
        for inode in self._shared:
            expected = f"{_SOCKET_PREFIX}{inode}]"
            for owner in index.get(inode, ()):
                pid = owner.pid
                if pid in fresh or pid in moved:
                    continue
                try:
                    if readlink(f"{root}/{pid}/fd/{owner.fd}") == expected:
                        continue
                except OSError:
                    pass  # closed, or the process is gone: rescanning settles which
                moved.add(pid)
        return moved

    def load_full_scan(self, scans: Iterable[ProcScan]) -> None:
        """Replace the whole map with the result of a walk of every process."""
        self._procs.clear()
        self._index.clear()
        self._shared.clear()
        count = 0
        for scan in scans:
            self._apply(scan)
            count += 1
        self._scanned_last = count
        self._last_full = time.monotonic()
        self.invisible = hidden_processes(self.proc_root)

    def _apply(self, scan: ProcScan) -> None:
        pid, count, name, sockets, netns, label = scan
        old = self._procs.get(pid)
        if old is not None:
            self._unindex(pid, old)
        proc = _Proc(count, name, sockets if sockets is not None else {}, sockets is not None, netns)
        self._procs[pid] = proc
        index = self._index
        for fd, inode in proc.sockets.items():
            owner = Owner(pid, fd, name, label)
            holders = index.get(inode)
            if holders is None:
                index[inode] = (owner,)
            else:
                index[inode] = tuple(sorted((*holders, owner), key=_owner_order))
                self._shared.add(inode)

    def _drop(self, pid: int) -> None:
        proc = self._procs.pop(pid, None)
        if proc is not None:
            self._unindex(pid, proc)

    def _unindex(self, pid: int, proc: _Proc) -> None:
        index = self._index
        for inode in set(proc.sockets.values()):
            holders = index.get(inode)
            if holders is None:
                continue
            remaining = tuple(o for o in holders if o.pid != pid)
            if len(remaining) < 2:
                self._shared.discard(inode)
            if remaining:
                index[inode] = remaining
            else:
                del index[inode]
                self._protonames.pop(inode, None)

    def protocol_name(self, inode: int) -> str | None:
        """The socket's ``system.sockprotoname`` xattr (``TCP``, ``UDPv6``, ``UNIX-STREAM`` ...).

        Read through one of the fd links holding it (the xattr follows the link; ~4 µs). None when no
        holder can be read any more, which also tells the caller the socket was closed meanwhile.
        Cached per inode: a socket's protocol never changes.
        """
        if inode in self._protonames:
            return self._protonames[inode]
        value: str | None = None
        for holder in self._index.get(inode, ()):
            try:
                raw = os.getxattr(f"{self.proc_root}/{holder.pid}/fd/{holder.fd}", "system.sockprotoname")
            except OSError:
                continue
            value = raw.split(b"\0", 1)[0].decode("ascii", "replace")
            break
        if value is not None:
            self._protonames[inode] = value
        return value
