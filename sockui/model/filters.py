"""Filter expressions (docs/spec.md section 7): parsed once into closures, then matched fast per socket."""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
import operator
import re
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from sockui.model.filter_parse import (
    AllOf,
    AnyOf,
    End,
    Everything,
    FilterError,
    FilterWarning,
    Is,
    Node,
    Not,
    Search,
    Test,
    Token,
    parse_tree_with_warnings,
    show_text,
)
from sockui.model.netns import HOST
from sockui.model.services import NO_SERVICES, ServiceTable
from sockui.model.socket import STATE_NAMES, InetEndpoint, Owner, SocketRecord, UnixEndpoint

__all__ = ["AddrSpec", "Filter", "FilterError", "FilterWarning", "compile_filter", "parse", "parse_address"]

Users = Mapping[int, str] | None
#: A compiled filter: takes the record and the snapshot's uid -> name map.
Predicate = Callable[[SocketRecord, Users], bool]
_T = TypeVar("_T")


@dataclass(frozen=True)
class Filter:
    """A parsed filter expression. ``Filter(src)`` parses like :func:`parse`; equal when sources are.

    ``services`` resolves service names (``port https``); it comes from the collector, which reads
    /etc/services, so that parsing does no I/O.
    """

    source: str
    services: ServiceTable = field(default=NO_SERVICES, repr=False, compare=False)
    _predicate: Predicate = field(init=False, repr=False, compare=False)
    #: What looked like a mistake but was accepted (a misspelt keyword, searched as text).
    warnings: tuple[FilterWarning, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tree, warnings = parse_tree_with_warnings(self.source)
        object.__setattr__(self, "_predicate", compile_filter(tree, self.services))
        object.__setattr__(self, "warnings", warnings)

    @property
    def is_empty(self) -> bool:
        """True for a blank expression, which matches everything (nothing to show as active)."""
        return not self.source.strip()

    def matches(self, sock: SocketRecord, users: Mapping[int, str] | None = None) -> bool:
        """Whether ``sock`` passes; ``users`` is Snapshot.users, with a cached pwd lookup as fallback."""
        try:
            return self._predicate(sock, users)
        except (AttributeError, LookupError, TypeError, ValueError):
            # Records come from several collectors (netlink, /proc fallback, psutil): one malformed
            # field must hide that row, not take the table down with it.
            return False


def parse(expr: str, services: ServiceTable = NO_SERVICES) -> Filter:
    """Parse a filter expression; raises FilterError (with a column) when it is not valid."""
    return Filter(expr, services)


def compile_filter(node: Node, services: ServiceTable = NO_SERVICES) -> Predicate:
    """Turn a tree into nested closures, resolving everything that does not depend on the record."""
    if isinstance(node, Everything):
        return lambda sock, users: True
    if isinstance(node, Not):
        inner = compile_filter(node.item, services)
        return lambda sock, users: not inner(sock, users)
    if isinstance(node, AllOf | AnyOf):
        return _combine([compile_filter(item, services) for item in node.items], isinstance(node, AllOf))
    if isinstance(node, Is):
        values = node.values
        if node.attr == "proto":
            return lambda sock, users: sock.proto in values
        if node.attr == "family":
            return lambda sock, users: sock.family in values
        return lambda sock, users: sock.binding in values
    if isinstance(node, Search):
        return _search(node.word, services)
    return _TESTS[node.field](node, services)


def _combine(preds: list[Predicate], all_of: bool) -> Predicate:
    if len(preds) == 2:  # the common case, without the loop
        first, second = preds
        if all_of:
            return lambda sock, users: first(sock, users) and second(sock, users)
        return lambda sock, users: first(sock, users) or second(sock, users)

    if all_of:
        return lambda sock, users: all(pred(sock, users) for pred in preds)
    return lambda sock, users: any(pred(sock, users) for pred in preds)


def _exists(
    values: Callable[[SocketRecord], Iterable[_T]], ok: Callable[[_T], bool], negate: bool
) -> Predicate:
    """Some value passes ``ok``; negated: some value exists and none passes.

    Negation is not a plain ``not``: "dport != 22" must be false for a socket with no remote end,
    and "port != 22" false for an ssh connection, whose other end is some other port.
    """

    def test(sock: SocketRecord, users: Users) -> bool:
        seen = False
        for value in values(sock):
            if ok(value):
                return not negate
            seen = True
        return negate and seen

    return test


def _inet_ends(end: End) -> Callable[[SocketRecord], Iterable[InetEndpoint]]:
    if end == "local":
        return lambda sock: (sock.local,) if isinstance(sock.local, InetEndpoint) else ()
    if end == "remote":
        return lambda sock: (sock.remote,) if isinstance(sock.remote, InetEndpoint) else ()
    return lambda sock: [e for e in (sock.local, sock.remote) if isinstance(e, InetEndpoint)]


def _owners(sock: SocketRecord) -> Iterable[Owner]:
    return sock.owners


def _unix_paths(sock: SocketRecord) -> Iterable[str]:
    return [e.path for e in (sock.local, sock.remote) if isinstance(e, UnixEndpoint) and e.path is not None]


_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "==": operator.eq,
    "!=": operator.eq,  # negated by _exists
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def _glob(pattern: str) -> Callable[[str], bool]:
    """Case-sensitive fnmatch, compiled once; a pattern with no wildcard is a plain equality test."""
    if not any(c in pattern for c in "*?["):
        return lambda text: text == pattern
    match = re.compile(fnmatch.translate(pattern)).match
    return lambda text: match(text) is not None


def _error(message: str, tok: Token) -> FilterError:
    return FilterError(message, tok.col, tok.length)


# --- keyword tests ----------------------------------------------------------------------------------

# Lookup key: upper case without '-' or '_', so "time-wait", "TIME_WAIT" and "timewait" all work.
_STATES = {name.replace("_", ""): name for name in STATE_NAMES} | {
    "LISTENING": "LISTEN",
    "UNCONNECTED": "UNCONN",
    "CLOSED": "CLOSE",
    "SYNRECEIVED": "SYN_RECV",
}
_COMMON_STATES = ("ESTABLISHED", "LISTEN", "TIME_WAIT", "CLOSE_WAIT", "SYN_SENT", "UNCONN")


def _state(node: Test, services: ServiceTable) -> Predicate:
    text = node.arg.text
    key = text.upper().replace("-", "").replace("_", "")
    if key not in _STATES:
        guesses = [_STATES[k] for k in difflib.get_close_matches(key, _STATES, n=3)]
        names = list(dict.fromkeys(guesses + list(_COMMON_STATES)))[:4]
        hint = ", ".join(n.lower().replace("_", "-") for n in names)
        raise _error(f"unknown state {show_text(text)} (try: {hint}, ...)", node.arg)
    state, negate = _STATES[key], node.op == "!="
    return lambda sock, users: (sock.state == state) is not negate


def _port(node: Test, services: ServiceTable) -> Predicate:
    text = node.arg.text
    port = port_number(text[1:] if text.startswith(":") else text, services)  # ss writes ports as ":22"
    if port is None:
        raise _error(f"unknown port or service {show_text(text)}", node.arg)
    if port < 0:
        raise _error(f"port {show_text(text)} is out of range (0-65535)", node.arg)
    compare = _COMPARE[node.op]
    return _exists(_inet_ends(node.end), lambda e: compare(e.port, port), node.op == "!=")


def _number(node: Test) -> int | None:
    text = node.arg.text
    if not (text.isascii() and text.isdigit()):
        return None
    if len(text) > 10:  # also keeps int() clear of Python's limit on huge digit strings
        raise _error(f"{node.field} {show_text(text)} is too large", node.arg)
    return int(text)


def _pid(node: Test, services: ServiceTable) -> Predicate:
    pid = _number(node)
    if pid is None:
        raise _error(f"bad process id {show_text(node.arg.text)} (expected a number)", node.arg)
    compare = _COMPARE[node.op]
    return _exists(_owners, lambda owner: compare(owner.pid, pid), node.op == "!=")


def _proc(node: Test, services: ServiceTable) -> Predicate:
    """Process names as people type them: ``python`` finds ``python3``, any case; globs anchor."""
    match = _text_match(node.arg.text)
    return _exists(_owners, lambda owner: match(owner.name), node.op == "!=")


def _inode(node: Test, services: ServiceTable) -> Predicate:
    """The socket's inode or its peer's (``ss -x`` shows both for UNIX sockets)."""
    wanted = _number(node)
    if wanted is None:
        raise _error(f"bad inode {show_text(node.arg.text)} (expected a number)", node.arg)
    compare = _COMPARE[node.op]

    def inodes(sock: SocketRecord) -> Iterable[int]:
        return [i for i in (sock.inode, sock.peer_inode) if i]

    return _exists(inodes, lambda ino: compare(ino, wanted), node.op == "!=")


def _path(node: Test, services: ServiceTable) -> Predicate:
    return _exists(_unix_paths, _glob(node.arg.text), node.op == "!=")


def _user(node: Test, services: ServiceTable) -> Predicate:
    negate = node.op == "!="
    wanted = _number(node)
    if wanted is not None:
        return lambda sock, users: sock.uid is not None and (sock.uid == wanted) is not negate
    match = _glob(node.arg.text)

    def test(sock: SocketRecord, users: Users) -> bool:
        # Names come from the snapshot (the collector resolved every uid it holds): no NSS here.
        uid = sock.uid
        if uid is None:
            return False
        name = users.get(uid) if users is not None else None
        return (name is not None and match(name)) is not negate

    return test


def _addr(node: Test, services: ServiceTable) -> Predicate:
    spec = parse_address(node.arg.text, services)
    if spec is None:
        msg = f"bad address {show_text(node.arg.text)} (expected an IP address or network like 10.0.0.0/8)"
        raise _error(msg, node.arg)
    return _exists(_inet_ends(node.end), _endpoint_test(spec), node.op == "!=")


def _netns(node: Test, services: ServiceTable) -> Predicate:
    """The namespace label (``host``, an ``ip netns`` name, a container) as a glob, any case; or its inode.

    A glob, not a substring: choosing ``web-1`` must not show ``web-10``. ``net:[4026532247]`` labels
    hold brackets, which fnmatch reads as a class: the label typed out in full, or the bare inode
    number (``netns 0``: sockets whose namespace is unknown), matches before any glob is tried.
    """
    text = node.arg.text
    folded = text.casefold()
    match = _glob_any_case(text)
    negate = node.op == "!="

    def test(sock: SocketRecord, users: Users) -> bool:
        label = sock.netns_label
        found = str(sock.netns) == text or label.casefold() == folded or (bool(label) and match(label))
        return found is not negate

    return test


def _glob_any_case(pattern: str) -> Callable[[str], bool]:
    """Fnmatch over the whole text, ignoring case; without a wildcard, equality ignoring case."""
    if not any(c in pattern for c in "*?["):
        folded = pattern.casefold()
        return lambda text: text.casefold() == folded
    match = re.compile(fnmatch.translate(pattern), re.IGNORECASE).match
    return lambda text: match(text) is not None


def _container(node: Test, services: ServiceTable) -> Predicate:
    """An owner's container (or systemd unit) label, or the socket's namespace label if not the host's.

    A glob, any case (``container 3f2a*``). The namespace counts too so that sockets no process holds
    (TIME_WAIT) in a container's namespace are found by its name.
    """
    match = _glob_any_case(node.arg.text)

    def labels(sock: SocketRecord) -> Iterable[str]:
        found = [o.container for o in sock.owners if o.container]
        if sock.netns_label and sock.netns_label != HOST:
            found.append(sock.netns_label)
        return found

    return _exists(labels, match, node.op == "!=")


_TESTS = dict(
    state=_state,
    port=_port,
    pid=_pid,
    proc=_proc,
    user=_user,
    path=_path,
    addr=_addr,
    inode=_inode,
    netns=_netns,
    container=_container,
)


def _text_match(word: str) -> Callable[[str], bool]:
    """Case-insensitive: a substring, or fnmatch over the whole text when ``word`` has a wildcard."""
    if any(c in word for c in "*?["):
        match = re.compile(fnmatch.translate(word), re.IGNORECASE).match
        return lambda text: match(text) is not None
    needle = word.lower()
    return lambda text: needle in text.lower()


def _search(word: str, services: ServiceTable) -> Predicate:
    """A bare word: address text, exact port, process name, UNIX path; case-insensitive.

    Substring match, or fnmatch over the whole text when the word has a wildcard. A word that reads
    as an address spec ("10.0.0.0/8", "[::1]:80", ":22") also matches like ``addr``.
    """
    text_ok = _text_match(word)
    port = int(word) if word.isascii() and word.isdigit() and len(word) <= 5 else None
    spec = parse_address(word, services)
    addr_ok = _endpoint_test(spec) if spec is not None else None

    def test(sock: SocketRecord, users: Users) -> bool:
        for end in (sock.local, sock.remote):
            if isinstance(end, InetEndpoint):
                if end.port == port or text_ok(end.address) or (addr_ok is not None and addr_ok(end)):
                    return True
            elif isinstance(end, UnixEndpoint) and end.path is not None and text_ok(end.path):
                return True
        return any(text_ok(owner.name) for owner in sock.owners)

    return test


# --- addresses and ports ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddrSpec:
    """``10.0.0.0/8``, ``[::1]:80``, ``*:22``: no networks means any address, no port any port."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    port: int | None


def parse_address(text: str, services: ServiceTable = NO_SERVICES) -> AddrSpec | None:
    """Parse ``ADDR``, ``ADDR/LEN``, ``ADDR:PORT``, ``[V6]:PORT``, ``*:PORT``; None if not an address.

    A colon only separates a port when there is exactly one (IPv4 or '*'): "::1:80" is an IPv6
    address, so an IPv6 address with a port needs brackets, as in URLs.
    """
    host, port_text = text, None
    if text.startswith("["):
        host, close, rest = text[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    port = None
    if port_text is not None and port_text != "*":
        port = port_number(port_text, services)
        if port is None or port < 0:
            return None
    if host in ("", "*"):
        return AddrSpec((), port) if port_text is not None or host == "*" else None
    if host.lower() == "localhost":
        return AddrSpec((ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")), port)
    try:
        return AddrSpec((ipaddress.ip_network(host, strict=False),), port)
    except ValueError:
        return None


def port_number(text: str, services: ServiceTable = NO_SERVICES) -> int | None:
    """A port from digits or a service name; None if unknown, -1 if out of 0..65535."""
    if text.isascii() and text.isdigit():
        return int(text) if len(text) <= 5 and int(text) <= 65535 else -1
    if text.startswith("-") and text[1:].isascii() and text[1:].isdigit():
        return -1  # "port -1" is a number out of range, not an unknown service name
    return services.port(text)


#: What an IPv4-mapped IPv6 address (::ffff:0:0/96) holds above its low 32 bits.
_MAPPED = 0xFFFF


def _endpoint_test(spec: AddrSpec) -> Callable[[InetEndpoint], bool]:
    """Match an endpoint against ``spec`` with integer masks precomputed here, not per record.

    IPv4-mapped IPv6 (::ffff:a.b.c.d), on either side, is folded to IPv4 so that a dual-stack
    listener's clients match "src 10.0.0.0/8" and "::ffff:10.0.0.1" matches an IPv4 socket.
    """
    nets: list[tuple[int, int, int]] = []  # (version, network, mask)
    for net in spec.networks:
        addr, mask = int(net.network_address), int(net.netmask)
        if net.version == 6 and net.prefixlen >= 96 and addr >> 32 == _MAPPED:
            nets.append((4, addr & 0xFFFFFFFF, mask & 0xFFFFFFFF))
        else:
            nets.append((net.version, addr, mask))
    port = spec.port

    def ok(end: InetEndpoint) -> bool:
        if port is not None and end.port != port:
            return False
        if not nets:
            return True
        key = _address_key(end.address)
        if key is None:
            return False
        version, value = key
        return any(version == v and value & mask == network for v, network, mask in nets)

    return ok


def _address_key(text: str) -> tuple[int, int] | None:
    """(IP version, integer) of an address text, mapped IPv6 folded to IPv4; None if unparsable.

    inet_pton, not ipaddress: it is several times faster, and this runs for every record.
    """
    try:
        if ":" not in text:
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text))
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text.partition("%")[0]))
    except (OSError, ValueError):
        return None
    return (4, value & 0xFFFFFFFF) if value >> 32 == _MAPPED else (6, value)
