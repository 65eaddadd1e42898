"""Plain-text formatting shared by the table, the detail pane, the clipboard and the file formats.

Everything that comes from the system (process names, cmdlines, UNIX paths, user names) is untrusted:
it may hold escape sequences, newlines, bidi overrides or Rich markup. :func:`safe` makes control
characters visible so such a string can never move the cursor, recolour the terminal or forge a line.
Markup is not this module's concern: widgets render the result as ``Text``, never as markup.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from sockui.model.socket import Endpoint, InetEndpoint, Owner, SocketRecord

# C0 controls, DEL, C1 controls, the Unicode line/paragraph separators, bidi marks, embeddings,
# overrides and isolates ("trojan source"), zero-width, invisible-operator, BOM and tag characters,
# and lone surrogates (which is how surrogateescape carries bytes that were not UTF-8). Backslash
# too, so escapes are unambiguous.
_CONTROLS = (
    "\x00-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ud800-\udfff\U000e0000-\U000e007f"
)
_UNSAFE = re.compile(f"[\\\\{_CONTROLS}]")
#: The same without backslash: what is still raw in text built from escaped parts.
_RAW = re.compile(f"[{_CONTROLS}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e", "\\": "\\\\"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not valid UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code > 0xFFFF:
        return f"\\U{code:08x}"
    return f"\\u{code:04x}"


def safe(text: str) -> str:
    """``text`` with every control or invisible formatting character written as a visible escape."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)


def still_safe(text: str) -> str:
    r"""Text built from :func:`safe` parts, with any control character that is still raw escaped.

    For sentences the model made safe already (a history note naming the likely owner, a follow
    timeline line): :func:`safe` again would double every backslash (``\e`` shown as ``\\e``), yet
    a view must not trust that every such sentence was built right. Backslashes stay as they are,
    since there they are the escapes; anything raw is escaped as :func:`safe` escapes it.
    """
    if _RAW.search(text) is None:
        return text
    return _RAW.sub(_escape, text)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with "…" so no one reads a part as the whole."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def width(text: str) -> int:
    """Terminal cells ``text`` takes: East Asian wide/fullwidth count 2, combining marks 0.

    For aligning plain-text output (``--once``); the TUI measures with Rich, which agrees.
    """
    if text.isascii():
        return len(text)
    cells = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        cells += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return cells


def endpoint(ep: Endpoint | None, *, port_names: bool = False) -> str:
    """``127.0.0.1:80``, ``[::1]:80``, a path, ``@abstract``, ``*`` for an unnamed UNIX end, '' for none."""
    if ep is None:
        return ""
    if isinstance(ep, InetEndpoint):
        address = f"[{ep.address}]" if ":" in ep.address else ep.address
        return f"{address}:{ep.port}"
    if ep.path is None:
        return "*"
    return safe(ep.path)


def owner(o: Owner) -> str:
    """``1234/nginx`` with the name made safe."""
    return f"{o.pid}/{safe(o.name)}"


def process_column(sock: SocketRecord) -> str:
    """The Process cell: ``pid name`` of the first owner, ``+N`` when more processes hold it."""
    owners = sock.owners
    if not owners:
        return ""
    first = owners[0]
    if len(owners) == 1:  # nearly every socket: skip counting distinct pids
        return f"{first.pid} {safe(first.name)}"
    extra = len(sock.pids) - 1
    text = f"{first.pid} {safe(first.name)}"
    return f"{text} +{extra}" if extra > 0 else text


def fd_column(sock: SocketRecord) -> str:
    """The Fd cell: the fds of the first owner's process (a process may hold a socket twice)."""
    owners = sock.owners
    if not owners:
        return ""
    if len(owners) == 1:
        return str(owners[0].fd)
    pid = owners[0].pid
    return ",".join(str(o.fd) for o in owners if o.pid == pid)


def user_column(sock: SocketRecord, users: Mapping[int, str]) -> str:
    """User name when known, else the numeric uid, else ''."""
    if sock.uid is None:
        return ""
    name = users.get(sock.uid)
    return safe(name) if name is not None else str(sock.uid)


def human_bytes(count: float) -> str:
    """``1.5 MB``, ``900 B``: decimal units, as network tools count."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def human_rate(bytes_per_second: float | None) -> str:
    """``12.3 MB/s``; ``-`` when unknown."""
    return "-" if bytes_per_second is None else human_bytes(bytes_per_second) + "/s"
