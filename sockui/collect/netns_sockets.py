"""One sock_diag socket per network namespace, kept from one refresh to the next (spec section 3).

Making a socket inside another namespace costs a helper thread and a setns() (sockui.collect.netns), so
the sockets are kept; and a socket pins its namespace alive, so those of vanished namespaces must be
closed promptly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from sockui.collect.netlink import NetlinkSocket
from sockui.collect.netns import Netns, NetnsDiscovery, NetnsError, open_in_netns


class NetnsSockets:
    """One sock_diag socket per network namespace, kept across refreshes.

    :meth:`update` takes each refresh's :class:`NetnsDiscovery`: it makes a socket for every new
    namespace (sockui's own directly, the others by :func:`open_in_netns`), replaces sockets that marked
    themselves broken, and closes those of namespaces that are gone. Closing matters: a socket pins its
    namespace (and the namespace's devices) alive. A namespace that could not be entered is remembered
    with the reason (:attr:`failures`) and not retried while it stays at the same path: privilege does
    not change while sockui runs.

    Not thread-safe: one owner (the refresh loop) calls everything; NetlinkSocket itself runs one dump
    at a time.
    """

    def __init__(self, factory: Callable[[], NetlinkSocket] = NetlinkSocket) -> None:
        self._factory = factory
        self._socks: dict[int, NetlinkSocket] = {}
        #: inode -> (path tried, plain reason).
        self._failed: dict[int, tuple[str | None, str]] = {}

    def update(self, discovery: NetnsDiscovery) -> None:
        """Bring the set of sockets in line with ``discovery``."""
        current = {ns.inode for ns in discovery.namespaces}
        for inode in [i for i in self._socks if i not in current]:
            self._socks.pop(inode).close()
        for inode in [i for i in self._failed if i not in current]:
            del self._failed[inode]
        for ns in discovery.namespaces:
            sock = self._socks.get(ns.inode)
            if sock is not None:
                if not sock.broken:
                    continue
                del self._socks[ns.inode]
                sock.close()
            failed = self._failed.get(ns.inode)
            if failed is not None and failed[0] == ns.path:
                continue
            self._failed.pop(ns.inode, None)
            self._open(ns)

    def _open(self, ns: Netns) -> None:
        try:
            if ns.own:
                sock = self._factory()
            elif ns.path is None:
                self._failed[ns.inode] = (None, "no way into this namespace could be opened (needs root)")
                return
            else:
                sock = open_in_netns(ns.path, self._factory, expect_inode=ns.inode)
        except NetnsError as exc:
            self._failed[ns.inode] = (ns.path, str(exc))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self._failed[ns.inode] = (ns.path, f"cannot open a sock_diag socket there: {reason}")
        else:
            self._socks[ns.inode] = sock

    def for_namespace(self, inode: int) -> NetlinkSocket | None:
        """The socket reading namespace ``inode``; None when it could not be entered or is unknown."""
        return self._socks.get(inode)

    @property
    def failures(self) -> Mapping[int, str]:
        """Namespaces that could not be entered: inode -> reason in plain words."""
        return {inode: reason for inode, (_path, reason) in self._failed.items()}

    def __iter__(self) -> Iterator[tuple[int, NetlinkSocket]]:
        """(inode, socket) for every namespace that has one."""
        return iter(list(self._socks.items()))

    def __len__(self) -> int:
        return len(self._socks)

    def close(self) -> None:
        """Close every socket (releasing the namespaces they pin) and forget the failures."""
        for sock in self._socks.values():
            sock.close()
        self._socks.clear()
        self._failed.clear()

    def __enter__(self) -> NetnsSockets:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
