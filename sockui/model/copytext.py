"""The texts of the copy menu (docs/spec.md section 6), built once here so the menu and ``y`` agree.

Every item is either a text or the plain reason why there is none. Texts shown on screen (addresses,
the 4-tuple, pid and cmdline) are escaped exactly as the table shows them (:func:`format.safe`). The
``ss`` and ``tcpdump`` texts are commands or filters to paste into a shell, so they are built to be
safe there too: each is one line with no control character, and everything from the system is quoted.

Choices (checked against iproute2 6.1's ``ss`` and tcpdump 4.99 by ``tests/collect/test_copy_commands.py``):

- 4-tuple: ``tcp 127.0.0.1:5000 -> 127.0.0.1:80``; a socket with no remote end gives its local end and
  its binding (``tcp 0.0.0.0:80 (listening)``, ``udp 0.0.0.0:53 (bound)``). UNIX ends read as the
  table's cells: name (``*`` when unnamed) and inode, ``unix/str * 4242 -> /run/x.sock 4243``.
- ss: a connected socket is selected by its full 4-tuple over all states
  (``ss -tan 'src 127.0.0.1:5000 and dst 127.0.0.1:80'``), so the command still finds it after a state
  change; a socket without a remote end by its local address among listening/unconnected sockets
  (``ss -tln 'src 127.0.0.1:80'``; ``-l`` also lists unconnected UDP, RAW and UNIX datagram sockets).
  ss compares addresses exactly (``src 0.0.0.0:80`` does not match ``127.0.0.1:80``; ``*:80`` would).
- ss on UNIX names: the name is an fnmatch(3) pattern, matched case-insensitively; ss's tokenizer
  splits on blanks and drops one backslash. Glob characters and blanks are escaped for both layers;
  a control character (or an undecodable byte) becomes ``*``, so the command stays one printable line
  and still matches the socket. ss cannot filter UNIX sockets by inode, nor by peer name.
- tcpdump: both directions of the flow, exactly (``tcp and ((src host A and src port P and dst host B
  and dst port Q) or (src host B ...))``); a socket without a remote end: traffic to and from its
  local address and port. IPv4-mapped IPv6 addresses are written as IPv4 (that is what is on the wire).
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from sockui.model import format as fmt
from sockui.model.columns import local_cell, proto_label, remote_cell
from sockui.model.describe import no_owner_reason
from sockui.model.export import record_json
from sockui.model.netns import HOST
from sockui.model.process import ProcessInfo
from sockui.model.socket import Binding, Endpoint, InetEndpoint, Proto, SocketRecord, UnixEndpoint

__all__ = ["COPY_KEYS", "CopyItem", "copy_items", "quick_text"]

#: The menu's accelerators, in menu order.
COPY_KEYS = ("l", "r", "t", "s", "k", "d", "j", "p")

_LABELS = {
    "l": "local address",
    "r": "remote address",
    "t": "4-tuple",
    "s": "ss command",
    "k": "ss -K command (closes it; root)",
    "d": "tcpdump filter",
    "j": "row as JSON",
    "p": "pid and command line",
}

_SS_PROTO = {Proto.TCP: "t", Proto.UDP: "u", Proto.RAW: "w"}


@dataclass(frozen=True, slots=True)
class CopyItem:
    """One entry of the copy menu: its key, its label, and the text to copy or why there is none."""

    key: str
    label: str
    text: str | None
    why_not: str | None


def _item(key: str, text: str | None, why_not: str | None = None) -> CopyItem:
    return CopyItem(key, _LABELS[key], text, None if text is not None else why_not or "not available")


# -- addresses ---------------------------------------------------------------------------------------


def _end_text(ep: Endpoint | None) -> str | None:
    """``addr:port``, ``[v6]:port``, a path or ``@name`` as the table shows it; None when unnamed."""
    if ep is None or (isinstance(ep, UnixEndpoint) and ep.path is None):
        return None
    return fmt.endpoint(ep)


def _connected(sock: SocketRecord) -> bool:
    return sock.binding is Binding.CONNECTED


def _local_item(sock: SocketRecord) -> CopyItem:
    text = _end_text(sock.local)
    if text is not None:
        return _item("l", text)
    if sock.local is None:
        return _item("l", None, "the socket has no address (unbound)")
    return _item("l", None, "the socket has no name")


def _remote_item(sock: SocketRecord) -> CopyItem:
    text = _end_text(sock.remote)
    if text is not None:
        return _item("r", text)
    if isinstance(sock.remote, UnixEndpoint) or (sock.proto is Proto.UNIX and sock.peer_inode):
        peer = f" (inode {sock.peer_inode})" if sock.peer_inode else ""
        return _item("r", None, f"the other end has no name{peer}")
    return _item("r", None, f"the socket has no remote end ({sock.binding.value})")


def _tuple_text(sock: SocketRecord) -> str | None:
    local = local_cell(sock)
    if not local:
        return None
    label = proto_label(sock)
    if _connected(sock):
        return f"{label} {local} -> {remote_cell(sock) or '*'}"
    return f"{label} {local} ({sock.binding.value})"


def _tuple_item(sock: SocketRecord) -> CopyItem:
    return _item("t", _tuple_text(sock), "the socket has no address (unbound)")


def quick_text(sock: SocketRecord) -> str | None:
    """What ``y`` copies: the 4-tuple of a connected socket, else the local address (None: nothing)."""
    if _connected(sock):
        return _tuple_text(sock)
    return _end_text(sock.local)


# -- ss ----------------------------------------------------------------------------------------------


def _is_control(ch: str) -> bool:
    """A character :func:`format.safe` would escape, backslash aside (that one is printable)."""
    return ch != "\\" and fmt.safe(ch) != ch


def _ss_unix_name(path: str) -> str:
    """``path`` as one token of ss's filter that fnmatch-matches exactly it (case aside).

    Two layers: fnmatch(3) reads backslash, ``*``, ``?``, ``[`` as special, so those get a backslash; ss's
    lexer splits on blanks and removes one backslash before any character, so every backslash is
    doubled and blanks escaped. Control characters become ``*``: never raw in a command.
    """
    pattern: list[str] = []
    for i, ch in enumerate(path):
        if _is_control(ch):
            if not pattern or pattern[-1] != "*":
                pattern.append("*")
        elif ch in "\\*?[" or (i == 0 and ch not in "/@"):
            # A name that does not start with / or @ could read as a keyword or a family prefix
            # ("unix:", "inet:"): escaping its first character keeps it a plain name.
            pattern.append("\\" + ch)
        else:
            pattern.append(ch)
    return "".join(pattern).replace("\\", "\\\\").replace(" ", "\\ ")


def _ss_inet_end(ep: InetEndpoint) -> str:
    return fmt.endpoint(ep)  # 127.0.0.1:80, [::1]:80, [::ffff:127.0.0.1]:80: all verified with ss


def enter_prefix(sock: SocketRecord) -> tuple[str | None, str]:
    """What runs a command in ``sock``'s network namespace: "" for ours, ``nsenter -t PID -n `` else.

    ``ss`` sees one namespace, the one it runs in; a command for a socket of a container must run
    there. Entered through an owner's pid (``ss -N`` would need an ``ip netns`` name, which most
    containers' namespaces lack). Returns (None, why) when no owner is known to enter by.
    """
    if not sock.netns_label or sock.netns_label == HOST:
        return "", ""
    if sock.owners:
        return f"nsenter -t {sock.owners[0].pid} -n ", ""
    label = fmt.safe(sock.netns_label)
    return None, f"it is in network namespace {label}, and no process is known to enter it by"


def _ss_command(sock: SocketRecord, kill: bool) -> tuple[str | None, str]:
    """(the command, or None and why not)."""
    enter, why_not = enter_prefix(sock)
    if enter is None:
        return None, why_not
    text, why_not = _ss_in_namespace(sock, kill)
    return (enter + text if text is not None else None), why_not


def _ss_in_namespace(sock: SocketRecord, kill: bool) -> tuple[str | None, str]:
    """The ss command as it is run inside the socket's namespace."""
    prefix = "ss -K" if kill else "ss"
    if sock.proto is Proto.UNIX:
        if kill:
            return None, "the kernel cannot close UNIX sockets (SOCK_DESTROY)"
        if not isinstance(sock.local, UnixEndpoint) or sock.local.path is None:
            return None, "ss cannot select an unnamed UNIX socket (it filters on names, not inodes)"
        if _connected(sock):
            return None, "ss cannot tell this UNIX connection from others on the same name"
        expr = f"src {_ss_unix_name(sock.local.path)}"
        return f"{prefix} -xln {shlex.quote(expr)}", ""
    if kill and sock.proto is Proto.RAW:
        return None, "ss -K does not close raw sockets (it lists them and leaves them open)"
    if not isinstance(sock.local, InetEndpoint):
        return None, "the socket has no address (unbound): ss cannot select it"
    if sock.state == "BOUND_INACTIVE":
        return None, "ss does not list TCP sockets that are bound but inactive"
    flag = _SS_PROTO[sock.proto]
    if isinstance(sock.remote, InetEndpoint) and _connected(sock):
        expr = f"src {_ss_inet_end(sock.local)} and dst {_ss_inet_end(sock.remote)}"
        return f"{prefix} -{flag}an {shlex.quote(expr)}", ""
    return f"{prefix} -{flag}ln {shlex.quote('src ' + _ss_inet_end(sock.local))}", ""


def _ss_item(sock: SocketRecord, kill: bool) -> CopyItem:
    text, why_not = _ss_command(sock, kill)
    return _item("k" if kill else "s", text, why_not)


# -- tcpdump -----------------------------------------------------------------------------------------


def _wire_address(address: str) -> tuple[str | None, int]:
    """(the address as tcpdump should name it, its IP version); None for a wildcard address.

    An IPv4-mapped IPv6 address is IPv4 on the wire: ``host ::ffff:10.0.0.1`` would match nothing.
    """
    try:
        ip = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return address, 6 if ":" in address else 4
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return None, ip.version
    return str(ip), ip.version


def _side(direction: str, host: str | None, port: int | None) -> str:
    """``src host A and src port P``; a wildcard host or a missing port is left out."""
    parts = ([f"{direction} host {host}"] if host else []) + (
        [f"{direction} port {port}"] if port is not None else []
    )
    return " and ".join(parts)


def _both_ways(a: tuple[str | None, int | None], b: tuple[str | None, int | None]) -> str:
    """Packets from a to b or from b to a, each end pinned by its host and port."""
    forth = f"{_side('src', *a)} and {_side('dst', *b)}"
    back = f"{_side('src', *b)} and {_side('dst', *a)}"
    return f"(({forth}) or ({back}))"


def _tcpdump_filter(sock: SocketRecord) -> tuple[str | None, str]:
    if sock.proto is Proto.UNIX:
        return None, "UNIX sockets carry no network traffic for tcpdump to see"
    if not isinstance(sock.local, InetEndpoint):
        return None, "the socket has no address (unbound): it has no traffic yet"
    local, version = _wire_address(sock.local.address)
    remote_ep = sock.remote if isinstance(sock.remote, InetEndpoint) and _connected(sock) else None
    if sock.proto is Proto.RAW:
        # A raw socket's "port" is the IP protocol number: it names the protocol, there are no ports.
        proto = f"{'ip6' if version == 6 else 'ip'} proto {sock.local.port}"
        if remote_ep is not None:
            remote, _ = _wire_address(remote_ep.address)
            return f"{proto} and {_both_ways((local, None), (remote, None))}", ""
        return (f"{proto} and host {local}" if local else proto), ""
    proto = sock.proto.value
    port = sock.local.port
    if remote_ep is not None:
        remote, remote_version = _wire_address(remote_ep.address)
        family = "ip6 and " if 6 in (version, remote_version) else ""
        return f"{family}{proto} and {_both_ways((local, port), (remote, remote_ep.port))}", ""
    if local is None:
        # A wildcard IPv4 socket sees IPv4 only; a wildcard IPv6 one may be dual-stack: no family.
        family = "ip and " if version == 4 else ""
        return f"{family}{proto} and (dst port {port} or src port {port})", ""
    family = "ip6 and " if version == 6 else ""
    return f"{family}{proto} and (({_side('dst', local, port)}) or ({_side('src', local, port)}))", ""


def _tcpdump_item(sock: SocketRecord) -> CopyItem:
    text, why_not = _tcpdump_filter(sock)
    return _item("d", text, why_not)


# -- JSON and owners ---------------------------------------------------------------------------------


def _json_item(sock: SocketRecord) -> CopyItem:
    # ensure_ascii: control characters, non-ASCII and undecodable bytes (lone surrogates) all escaped.
    text = json.dumps(record_json(sock), ensure_ascii=True, separators=(",", ":"))
    return _item("j", text)


def _process_item(sock: SocketRecord, processes: Sequence[ProcessInfo]) -> CopyItem:
    if not sock.owners:
        reason = no_owner_reason(sock)
        if reason is not None:
            return _item("p", None, f"no process holds it: {reason}")
        return _item("p", None, "no owner is visible (none holds it, or its holder's fds could not be read)")
    infos = {p.pid: p for p in processes}
    names = {o.pid: o.name for o in reversed(sock.owners)}  # first owner entry of each pid wins
    lines = []
    for pid in sock.pids:
        info = infos.get(pid)
        if info is not None and info.cmdline:
            command = " ".join(info.cmdline)
        else:
            command = (info.name if info is not None and info.name else None) or names[pid]
        lines.append(f"{pid} {fmt.safe(command)}")
    return _item("p", "\n".join(lines))


def copy_items(sock: SocketRecord, processes: Sequence[ProcessInfo] = ()) -> list[CopyItem]:
    """Every entry of the copy menu for ``sock``, in :data:`COPY_KEYS` order.

    Args:
        sock: the selected socket.
        processes: details of its owners (for ``p``: cmdlines); owners without one fall back to
            their process name.

    Returns:
        One :class:`CopyItem` per key; ``text`` None means the entry is shown disabled with ``why_not``.
    """
    return [
        _local_item(sock),
        _remote_item(sock),
        _tuple_item(sock),
        _ss_item(sock, kill=False),
        _ss_item(sock, kill=True),
        _tcpdump_item(sock),
        _json_item(sock),
        _process_item(sock, processes),
    ]
