"""Every network namespace in use, and a way to make a socket inside each without moving the caller.

sock_diag answers for the namespace its socket was created in (spec section 3, "Network namespaces"), so
listing every namespace's sockets needs one netlink socket made inside each:

- :func:`discover` finds the namespaces: the distinct targets of ``/proc/PID/ns/net``, identified by
  (st_dev, st_ino), plus those bind-mounted in ``/run/netns`` (``ip netns add``) and
  ``/var/run/docker/netns`` even when no process is in them. A bind mount is the preferred way in (a pid
  can exit and be reused; a mount stays until ``ip netns del``).
- :func:`open_in_netns` builds an object inside a namespace without moving the caller: a short-lived
  helper thread setns()es into it, runs the factory and exits. A socket stays in the namespace it was
  created in, whichever thread uses it later, so the returned NetlinkSocket reads that namespace's
  tables from anywhere.
- ``sockui.collect.netns_sockets.NetnsSockets`` keeps one NetlinkSocket per namespace from one refresh
  to the next.

Kernel facts this relies on (6.18; tests/collect/test_netns_discovery.py checks them):

- Every nsfs file has the same st_dev; st_ino is the namespace's id (``net:[INODE]``). Inode numbers are
  reused as soon as a namespace is freed (``ip netns del x; ip netns add y`` gave y the old number), so
  an inode names one namespace only while something pins it.
- A socket holds a reference on its namespace: a NetlinkSocket of ours keeps a deleted namespace, its
  devices included, alive until we close it. That also keeps its inode from being reused meanwhile.
- stat() or open() of ``/proc/PID/ns/net`` needs ptrace read access to PID: unprivileged, one's own
  processes only (EACCES for the rest, kernel threads too); even root is refused a few (a sandbox's
  init). Such processes are counted (kernel threads are not), their namespaces stay unknown.
- ``ip netns`` bind mounts are mode 0444: anyone can stat and open them; setns() needs CAP_SYS_ADMIN.
- A namespace pinned only by an open fd or a socket (no process, no mount) cannot be found here.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sockui.collect.procfs import list_pids

T = TypeVar("T")

#: linux/sched.h
CLONE_NEWNET = 0x40000000
#: linux/nsfs.h: _IO(0xb7, 0x3), the namespace type (a CLONE_NEW* value) of an nsfs fd.
NS_GET_NSTYPE = 0xB703

#: Where ``ip netns add`` bind-mounts its namespaces; entries here give the ``ip netns`` names.
IP_NETNS_DIR = "/run/netns"
#: Directories of bind-mounted namespaces: ``ip netns`` ones and docker's (named by sandbox id).
RUN_DIRS = (IP_NETNS_DIR, "/var/run/docker/netns")

#: linux/sched.h: the task is a kernel thread (``flags``, field 9 of /proc/PID/stat).
PF_KTHREAD = 0x00200000

#: Seconds to wait for the helper thread (a factory that hangs must not hang the refresh).
ENTER_TIMEOUT = 10.0

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True, slots=True)
class Netns:
    """One network namespace in use."""

    #: The namespace's inode (``net:[INODE]``); unique among live namespaces.
    inode: int
    #: st_dev of the nsfs file (the same for every namespace).
    dev: int
    #: True for sockui's own namespace (``/proc/self/ns/net``).
    own: bool
    #: A path to open it by (a bind mount when there is one, else ``/proc/PID/ns/net``); None when it was
    #: seen but nothing naming it could be opened.
    path: str | None
    #: The process whose ``ns/net`` link is :attr:`path` (None when the path is a bind mount or None).
    pid: int | None
    #: ``ip netns`` names (entries of /run/netns that are this namespace), sorted.
    names: tuple[str, ...]
    #: Every bind mount of it seen in the run directories, sorted.
    mounts: tuple[str, ...]
    #: Processes in it (thread-group ids), sorted; empty for a namespace held only by a mount.
    pids: tuple[int, ...]

    @property
    def name(self) -> str | None:
        """The ``ip netns`` name (the first one, when it has several); None when it has none."""
        return self.names[0] if self.names else None


@dataclass(frozen=True, slots=True)
class NetnsDiscovery:
    """The network namespaces in use at one moment: sockui's own first, the others by inode."""

    namespaces: tuple[Netns, ...]
    #: Processes whose ``ns/net`` could not be examined (EACCES: other users' processes when
    #: unprivileged, ptrace-guarded ones even for root). How many namespaces they are in is unknown.
    #: Kernel threads are not counted: they all live in the initial namespace and hold no user sockets.
    unreadable_pids: int = 0
    _by_inode: dict[int, Netns] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_inode.update((ns.inode, ns) for ns in self.namespaces)

    def get(self, inode: int) -> Netns | None:
        """The namespace with this inode, if it was found."""
        return self._by_inode.get(inode)

    @property
    def own(self) -> Netns | None:
        """Sockui's own namespace (None only when /proc/self/ns/net is unreadable)."""
        first = self.namespaces[0] if self.namespaces else None
        return first if first is not None and first.own else None

    @property
    def unopenable(self) -> tuple[Netns, ...]:
        """Namespaces that were seen but could not be opened (so not entered either)."""
        return tuple(ns for ns in self.namespaces if ns.path is None)

    @property
    def complete(self) -> bool:
        """True when every process's namespace was examined and every namespace can be opened."""
        return not self.unreadable_pids and not self.unopenable


@dataclass(slots=True)
class _Found:
    """A namespace being gathered by :func:`discover`."""

    pids: list[int] = field(default_factory=list)
    proc_path: str | None = None
    proc_pid: int | None = None
    mounts: list[str] = field(default_factory=list)
    open_mount: str | None = None
    names: list[str] = field(default_factory=list)


def _try_open(path: str) -> tuple[int, int, bool] | None:
    """(st_dev, st_ino, openable) of a network-namespace file; None when it is none or is gone.

    An nsfs file that can be stat()ed but not opened is reported unopenable; a file whose namespace type
    is not CLONE_NEWNET (or that is no nsfs file at all: NS_GET_NSTYPE fails) is None.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except PermissionError:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_dev, st.st_ino, False
    except OSError:
        return None
    try:
        try:
            if fcntl.ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET:
                return None
        except OSError:
            return None
        st = os.fstat(fd)
        return st.st_dev, st.st_ino, True
    finally:
        os.close(fd)


def _is_kernel_thread(proc_root: str, pid: int) -> bool:
    """True for a kernel thread (PF_KTHREAD in /proc/PID/stat, which anyone can read)."""
    try:
        with open(f"{proc_root}/{pid}/stat", "rb") as fh:
            data = fh.read(4096)
    except OSError:
        return False
    # "pid (comm) state ppid pgrp session tty_nr tpgid flags ...": comm may hold anything, even ") ".
    fields = data.rpartition(b")")[2].split()
    try:
        return int(fields[6]) & PF_KTHREAD != 0
    except (IndexError, ValueError):
        return False


def _scan_run_dir(directory: str, named: bool, found: dict[tuple[int, int], _Found]) -> None:
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return
    for entry in entries:
        path = os.path.join(directory, entry)
        seen = _try_open(path)
        if seen is None:
            continue
        dev, ino, openable = seen
        acc = found.setdefault((dev, ino), _Found())
        acc.mounts.append(path)
        if openable and acc.open_mount is None:
            acc.open_mount = path
        if named:
            acc.names.append(entry)


def discover(
    proc_root: str = "/proc",
    run_dirs: tuple[str, ...] = RUN_DIRS,
    *,
    named_dirs: tuple[str, ...] = (IP_NETNS_DIR,),
) -> NetnsDiscovery:
    """List every network namespace in use: those of processes, and those bind-mounted in ``run_dirs``.

    Entries of ``named_dirs`` (``/run/netns``) give the ``ip netns`` names; they are scanned even when
    missing from ``run_dirs``. Names and paths are kept as the system gives them (str with
    surrogateescape for undecodable bytes). Never raises for vanished processes or missing directories.
    """
    own_path = f"{proc_root}/self/ns/net"
    try:
        own_st = os.stat(own_path)
        own_key: tuple[int, int] | None = (own_st.st_dev, own_st.st_ino)
    except OSError:
        own_key = None
    found: dict[tuple[int, int], _Found] = {}
    unreadable = 0
    for pid in sorted(list_pids(proc_root)):
        path = f"{proc_root}/{pid}/ns/net"
        try:
            st = os.stat(path)
        except PermissionError:  # EACCES: not ours to see (ptrace access mode)
            if not _is_kernel_thread(proc_root, pid):
                unreadable += 1
            continue
        except OSError:  # ENOENT: exited, or a zombie (its namespaces are already gone)
            continue
        key = (st.st_dev, st.st_ino)
        acc = found.setdefault(key, _Found())
        acc.pids.append(pid)
        if acc.proc_path is None:
            seen = _try_open(path)
            # The process may have moved (setns) or exited since the stat: only a matching open counts.
            if seen is not None and seen[2] and seen[:2] == key:
                acc.proc_path, acc.proc_pid = path, pid
    named = {os.path.realpath(d) for d in named_dirs}
    scanned: set[str] = set()
    for directory in (*named_dirs, *run_dirs):
        real = os.path.realpath(directory)
        if real in scanned:
            continue
        scanned.add(real)
        _scan_run_dir(directory, real in named, found)
    namespaces: list[Netns] = []
    for (dev, ino), acc in found.items():
        way = acc.open_mount or acc.proc_path
        namespaces.append(
            Netns(
                inode=ino,
                dev=dev,
                own=(dev, ino) == own_key,
                path=way,
                pid=acc.proc_pid if way is not None and way == acc.proc_path else None,
                names=tuple(sorted(set(acc.names))),
                mounts=tuple(sorted(set(acc.mounts))),
                pids=tuple(acc.pids),
            )
        )
    namespaces.sort(key=lambda ns: (not ns.own, ns.inode))
    return NetnsDiscovery(tuple(namespaces), unreadable)


class NetnsError(OSError):
    """A network namespace could not be entered; ``str()`` is a plain sentence for the user."""

    def __init__(self, code: int, message: str, path: str) -> None:
        super().__init__(code, message)
        self.path = path

    def __str__(self) -> str:
        return str(self.strerror)


def _open_error(code: int, path: str) -> NetnsError:
    if code in (errno.EACCES, errno.EPERM):
        text = "opening another user's network namespace needs root (CAP_SYS_PTRACE)"
    elif code in (errno.ENOENT, errno.ESRCH):
        text = "the network namespace is gone (its processes exited or it was deleted)"
    else:
        text = f"cannot open the network namespace: {os.strerror(code)}"
    return NetnsError(code, text, path)


def _setns_error(code: int, path: str) -> NetnsError:
    if code == errno.EPERM:
        text = "entering other network namespaces needs root (CAP_SYS_ADMIN)"
    elif code == errno.EINVAL:
        text = "this is not a network namespace"
    else:
        text = f"cannot enter the network namespace: {os.strerror(code)}"
    return NetnsError(code, text, path)


def _setns(fd: int) -> int:
    """setns(fd, CLONE_NEWNET) for the calling thread; 0 or the errno."""
    setns = getattr(os, "setns", None)  # Python >= 3.12
    if setns is not None:
        try:
            setns(fd, CLONE_NEWNET)
        except OSError as exc:
            return exc.errno or errno.EPERM
        return 0
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        return ctypes.get_errno() or errno.EPERM
    return 0


class _Outcome(Generic[T]):
    """What the helper thread hands back; ``lock`` guards the handover against a caller that gave up."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.abandoned = False
        self.finished = False
        self.made = False
        self.value: T | None = None
        self.error: BaseException | None = None
        self.setns_errno = 0


def _helper(fd: int, factory: Callable[[], T], out: _Outcome[T]) -> None:
    """Body of the helper thread: enter the namespace, build, hand over. Owns and closes ``fd``."""
    value: T | None = None
    made = False
    error: BaseException | None = None
    try:
        code = _setns(fd)
    finally:
        os.close(fd)
    if not code:
        try:
            value, made = factory(), True
        except BaseException as exc:  # handed to the caller, which re-raises it
            error = exc
    with out.lock:
        if not out.abandoned:
            out.setns_errno, out.error, out.value, out.made = code, error, value, made
            out.finished = True
            return
    close = getattr(value, "close", None)  # the caller gave up: do not leak what we made
    if made and callable(close):
        close()


def open_in_netns(
    ns_path: str,
    factory: Callable[[], T],
    *,
    expect_inode: int | None = None,
    timeout: float = ENTER_TIMEOUT,
) -> T:
    """Run ``factory`` inside the network namespace at ``ns_path`` and return what it made.

    The namespace is opened here, then a new helper thread setns()es into it, calls ``factory`` and
    exits; the calling thread's namespace never changes. ``expect_inode`` guards against a path that
    now names another namespace (a ``/proc/PID/ns/net`` whose process exited and whose pid was reused).
    Raises :class:`NetnsError` (plain message) when the namespace cannot be opened or entered, or when
    the helper does not finish within ``timeout`` seconds (what it makes later is closed); an exception
    raised by ``factory`` is re-raised as it is.
    """
    try:
        fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise _open_error(exc.errno or errno.EIO, ns_path) from exc
    try:
        inode = os.fstat(fd).st_ino
    except OSError as exc:
        os.close(fd)
        raise _open_error(exc.errno or errno.EIO, ns_path) from exc
    if expect_inode is not None and inode != expect_inode:
        os.close(fd)
        raise NetnsError(
            errno.ESTALE,
            f"{ns_path} is another namespace now (its process exited and the pid was reused)",
            ns_path,
        )
    out: _Outcome[T] = _Outcome()
    thread = threading.Thread(target=_helper, args=(fd, factory, out), name="sockui-netns", daemon=True)
    try:
        thread.start()
    except BaseException:
        os.close(fd)
        raise
    thread.join(timeout)
    with out.lock:
        if not out.finished:
            out.abandoned = True
            raise NetnsError(errno.ETIMEDOUT, "entering the network namespace timed out", ns_path)
    if out.setns_errno:
        raise _setns_error(out.setns_errno, ns_path)
    if out.error is not None:
        raise out.error
    assert out.made
    return out.value  # type: ignore[return-value]  # made: it is a T (which may itself admit None)
