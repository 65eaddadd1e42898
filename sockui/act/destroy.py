"""Close a TCP or UDP socket from outside its owner, as ``ss -K`` does, and say only what was seen.

The kernel's SOCK_DESTROY (docs/sock_diag.md section 6) aborts one socket named by an
``inet_diag_req_v2``. sockui always names it by its cookie as well as its addresses, so a new socket
that took over the same 4-tuple since the snapshot can never be hit: the kernel answers ENOENT
instead. An acknowledgement is not taken as proof either (``ss -K`` even exits 0 after EPERM): the
socket is looked up again, by cookie, and only its absence or a closed state counts as success.

Facts this module relies on, checked on Linux 6.18:

- the kernel reaches a socket only through the same lookup as incoming packets, with the interface
  the socket is bound to: bound-inactive TCP sockets (in no lookup table) and all but one of a group
  of SO_REUSEPORT sockets sharing an address are out of its reach (ENOENT while they exist);
- a destroyed socket whose port was chosen explicitly (``bind`` to a nonzero port) stays bound: TCP
  ones as a closed, bound-inactive entry; UDP ones get one ECONNABORTED and keep receiving.

Blocking (a few netlink round trips): call :func:`destroy` from a worker thread.
"""

from __future__ import annotations

import errno
import os
import shlex
from dataclasses import dataclass

from sockui.collect.netlink import SOCK_DESTROY, NetlinkError, NetlinkSocket
from sockui.collect.netns import NetnsError
from sockui.collect.netns_link import netlink_in
from sockui.collect.query import exact_request, locate, port_entries
from sockui.model.binding import inet_state
from sockui.model.copytext import enter_prefix
from sockui.model.kernel import TCP_CLOSE
from sockui.model.socket import Binding, Family, InetEndpoint, Proto, SocketRecord, UnixEndpoint

__all__ = ["DestroyResult", "cannot_destroy", "destroy", "ss_kill_command"]

NEEDS_ROOT = "closing sockets needs root (CAP_NET_ADMIN)"
#: Root refused all the same: a container or `capsh --drop` took the capability away.
ROOT_LACKS_CAP = "closing sockets needs CAP_NET_ADMIN, which this root process does not have (dropped here)"
UNIX_REFUSED = "the kernel cannot close UNIX sockets from outside; kill the owner instead"
GONE = "the socket is already gone"


@dataclass(frozen=True)
class DestroyResult:
    """What came of a request to close a socket."""

    #: True only when the socket was seen gone or closed after the request.
    ok: bool
    #: Why it was not closed, in plain words (None when ``ok``).
    reason: str | None = None
    #: Killing the owner is the way out (the socket has known owners and the kernel cannot help).
    offer_kill: bool = False
    #: A caveat about a success (e.g. the port stays taken until the owner lets go).
    note: str | None = None
    #: The errno the kernel answered the request with, if it refused it.
    code: int | None = None


def _endpoint(ep: InetEndpoint) -> str:
    return f"[{ep.address}]:{ep.port}" if ":" in ep.address else f"{ep.address}:{ep.port}"


def cannot_destroy(sock: SocketRecord) -> str | None:
    """Why the kernel cannot close this socket at all, in plain words; None when it may try.

    For the UI to say so before asking for a confirmation (:func:`destroy` checks it too).
    """
    if sock.proto is Proto.UNIX or isinstance(sock.local, UnixEndpoint):
        return UNIX_REFUSED
    if sock.proto is Proto.RAW:
        return "sockui cannot close raw sockets; kill the owner instead"
    if not isinstance(sock.local, InetEndpoint) or sock.cookie is None:
        return (
            "the kernel cannot reach this socket: it neither listens nor has a connection (sockui "
            "found it only through its owner); kill the owner instead"
        )
    if sock.proto is Proto.TCP and sock.state == "BOUND_INACTIVE":
        return (
            "the kernel closes only TCP sockets that listen or have a connection, and this one is only "
            "bound; kill the owner instead"
        )
    return None


def destroy(sock: SocketRecord, nl: NetlinkSocket | None = None) -> DestroyResult:
    """Close one TCP or UDP socket (IPv4 or IPv6) with SOCK_DESTROY, then check that it closed.

    Args:
        sock: the socket as a snapshot listed it; its cookie pins the request to that very socket.
        nl: a netlink socket to use (one is opened and closed when None).

    Returns:
        ``ok`` only if a lookup by cookie after the request found the socket gone or closed;
        otherwise the reason in plain words, and whether killing the owner is the way out.
    """
    owned = bool(sock.owners)
    refused = cannot_destroy(sock)
    request = exact_request(sock, destroy=True)
    if refused is not None or request is None:
        return DestroyResult(False, refused or UNIX_REFUSED, offer_kill=owned)
    try:
        # SOCK_DESTROY looks the cookie up in the namespace of the netlink socket: make it there.
        link = nl or netlink_in(sock.netns, sock.pids)
    except NetnsError as exc:
        return DestroyResult(False, f"cannot enter its network namespace: {exc}")
    except OSError as exc:
        return DestroyResult(
            False, f"cannot reach the kernel's socket interface: {os.strerror(exc.errno or 0)}"
        )
    try:
        try:
            link.request(request, mtype=SOCK_DESTROY)
        except NetlinkError as exc:
            code = exc.errno or 0
            try:
                return _refused(sock, code, link)
            except OSError as failure:
                return _unchecked(f"the kernel refused to close it ({os.strerror(code)})", failure, code)
        except OSError as exc:  # a timeout, a broken reply stream: no answer to go by
            return _unchecked("no answer from the kernel", exc, exc.errno)
        try:
            return _check_closed(sock, link)
        except OSError as failure:
            return _unchecked("the kernel accepted the request", failure, None)
    finally:
        if nl is None:
            link.close()


def _unchecked(what: str, failure: OSError, code: int | None) -> DestroyResult:
    """The result when the lookup that should tell what happened failed itself."""
    text = os.strerror(failure.errno) if failure.errno else str(failure)
    return DestroyResult(
        False, f"{what}, but sockui could not check the socket afterwards: {text}", code=code
    )


def _refused(sock: SocketRecord, code: int, link: NetlinkSocket) -> DestroyResult:
    """Explain a negative acknowledgement of SOCK_DESTROY."""
    owned = bool(sock.owners)
    if code == errno.EPERM:
        reason = ROOT_LACKS_CAP if os.geteuid() == 0 else NEEDS_ROOT
        return DestroyResult(False, reason, offer_kill=owned, code=code)
    if code == errno.EOPNOTSUPP:
        reason = (
            f"this kernel cannot close {sock.proto.value.upper()} sockets "
            "(it was built without CONFIG_INET_DIAG_DESTROY); kill the owner instead"
        )
        return DestroyResult(False, reason, offer_kill=owned, code=code)
    if code not in (errno.ENOENT, errno.ESTALE):
        return DestroyResult(False, f"the kernel refused to close it: {os.strerror(code)}", code=code)
    # ENOENT: nothing with this cookie at these addresses. Gone, or out of the lookup's reach?
    entries = port_entries(sock, link)
    mine = next((e for e in entries if e.cookie == sock.cookie), None)
    if mine is None:
        return DestroyResult(False, GONE, code=code)
    state, binding = inet_state(sock.proto, mine.state)
    remote = InetEndpoint(mine.dst, mine.dport) if binding is Binding.CONNECTED else None
    if (state, remote) != (sock.state, sock.remote):
        now = f"{state} with {_endpoint(remote)}" if remote else state
        return DestroyResult(
            False, f"the socket changed since it was listed (it is now {now}); look again", code=code
        )
    assert isinstance(sock.local, InetEndpoint)  # cannot_destroy() let it through
    siblings = [e for e in entries if e.cookie != sock.cookie and (e.src, e.sport) == (mine.src, mine.sport)]
    if siblings:
        reason = (
            f"the kernel cannot single out this socket: {len(siblings)} other socket"
            f"{'s' if len(siblings) > 1 else ''} share {_endpoint(sock.local)} (SO_REUSEPORT) and it "
            "reaches only one of them; kill the owner instead"
        )
    else:
        reason = "the kernel could not find this socket by its addresses; kill the owner instead"
    return DestroyResult(False, reason, offer_kill=owned, code=code)


def _check_closed(sock: SocketRecord, link: NetlinkSocket) -> DestroyResult:
    """After an acknowledged SOCK_DESTROY: success only if the socket is seen gone or closed."""
    after = locate(sock, link)
    if after is None:
        return DestroyResult(True)
    assert isinstance(sock.local, InetEndpoint)  # cannot_destroy() let it through
    port = sock.local.port
    if sock.proto is Proto.TCP:
        if after.state == TCP_CLOSE:
            # Its port was chosen explicitly: the kernel keeps it reserved for the owner's fd.
            note = f"port {port} stays reserved until the owner closes its descriptor"
            return DestroyResult(True, note=note)
        state = inet_state(sock.proto, after.state)[0]
        return DestroyResult(
            False,
            f"the kernel accepted the request, yet the socket is still {state}",
            offer_kill=bool(sock.owners),
        )
    where = _endpoint(InetEndpoint(after.src, after.sport))
    reason = (
        f"the kernel aborted it (its owner got an error) but it stays bound to {where}, as UDP sockets "
        "bound to a chosen port do, and it still receives; kill the owner to free the port"
    )
    return DestroyResult(False, reason, offer_kill=bool(sock.owners))


#: ss state names (ss(8) STATE-FILTER) of the states sockui lists.
_SS_STATES = {
    "LISTEN": "listening",
    "BOUND_INACTIVE": "bound-inactive",  # ss >= 6.8; the kernel cannot close these anyway
    "UNCONN": "closed",
}


def ss_kill_command(sock: SocketRecord) -> str:
    """The ``ss -K`` command that names this socket, shell-quoted; "" when ss cannot name it.

    ss filters by addresses and state only, not by cookie: unlike :func:`destroy`, the command would
    also close a new socket that took over the same addresses, or an SO_REUSEPORT sibling.
    """
    if sock.proto not in (Proto.TCP, Proto.UDP) or not isinstance(sock.local, InetEndpoint):
        return ""
    enter, _why = enter_prefix(sock)
    if enter is None:
        return ""
    args = [*shlex.split(enter), "ss", "-K", "-n", "-t" if sock.proto is Proto.TCP else "-u"]
    args.append("-6" if sock.family is Family.IPV6 else "-4")
    if isinstance(sock.remote, InetEndpoint):
        # Any state: the connection may have moved on (e.g. to CLOSE_WAIT) since it was listed.
        args += ["-a", "src", _endpoint(sock.local), "dst", _endpoint(sock.remote)]
    else:
        args += ["state", _SS_STATES.get(sock.state, "closed"), "src", _endpoint(sock.local)]
    return shlex.join(args)
