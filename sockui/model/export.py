"""Snapshot output for scripts: the JSON schema of PRODUCT.md section 5, its flattened CSV, a text table.

JSON keeps untrusted strings exact (json escapes control characters, so the output is still safe on a
terminal and round-trips). CSV and the table are line-oriented, so there every string goes through
:func:`format.safe`: one record is always one line, whatever a process called itself.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sockui.model import format as fmt
from sockui.model.socket import Endpoint, Family, InetEndpoint, Proto, Snapshot, SocketRecord

JSON_KEYS = (
    "proto",
    "family",
    "type",
    "state",
    "binding",
    "local",
    "remote",
    "inode",
    "uid",
    "processes",
    "peer_inode",
)

CSV_FIELDS = (
    "proto",
    "family",
    "type",
    "state",
    "binding",
    "local_address",
    "local_port",
    "local_path",
    "remote_address",
    "remote_port",
    "remote_path",
    "inode",
    "uid",
    "processes",
    "peer_inode",
)

TABLE_HEADERS = ("Proto", "State", "Local", "Remote", "Process", "Fd", "User", "Recv-Q", "Send-Q")
_RIGHT_ALIGNED = {"Fd", "Recv-Q", "Send-Q"}

_PROTO_ORDER = {Proto.TCP: 0, Proto.UDP: 1, Proto.RAW: 2, Proto.UNIX: 3}


def endpoint_json(ep: Endpoint | None) -> dict[str, Any] | None:
    """``{"address", "port"}``, ``{"path"}`` or None, as the schema says."""
    if ep is None:
        return None
    if isinstance(ep, InetEndpoint):
        return {"address": ep.address, "port": ep.port}
    return {"path": ep.path}


def record_json(sock: SocketRecord) -> dict[str, Any]:
    """One socket as a schema object (keys in schema order)."""
    return {
        "proto": sock.proto.value,
        "family": sock.family.value,
        "type": sock.type.value,
        "state": sock.state,
        "binding": sock.binding.value,
        "local": endpoint_json(sock.local),
        "remote": endpoint_json(sock.remote),
        "inode": sock.inode,
        "uid": sock.uid,
        "processes": [{"pid": o.pid, "name": o.name, "fd": o.fd} for o in sock.owners],
        "peer_inode": sock.peer_inode,
    }


def to_json(sockets: Iterable[SocketRecord]) -> str:
    """A JSON array of schema objects.

    ``ensure_ascii`` stays on: names decoded with surrogateescape hold lone surrogates, which only
    an escaped form can carry; and it keeps every control character escaped.
    """
    return json.dumps([record_json(s) for s in sockets], indent=2)


def _flat(ep: Endpoint | None) -> tuple[str, str, str]:
    if ep is None:
        return "", "", ""
    if isinstance(ep, InetEndpoint):
        return ep.address, str(ep.port), ""
    return "", "", fmt.safe(ep.path) if ep.path is not None else ""


def _csv_name(name: str) -> str:
    # '/' and ';' separate the parts of the processes field, so they are escaped inside a name.
    return fmt.safe(name).replace("/", "\\x2f").replace(";", "\\x3b")


def to_csv(sockets: Iterable[SocketRecord]) -> str:
    """The flattened form: one header line, then one line per socket."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for s in sockets:
        processes = ";".join(f"{o.pid}/{_csv_name(o.name)}/{o.fd}" for o in s.owners)
        writer.writerow(
            (
                s.proto.value,
                s.family.value,
                s.type.value,
                s.state,
                s.binding.value,
                *_flat(s.local),
                *_flat(s.remote),
                s.inode,
                "" if s.uid is None else s.uid,
                processes,
                "" if s.peer_inode is None else s.peer_inode,
            )
        )
    return out.getvalue()


def proto_label(sock: SocketRecord) -> str:
    """``tcp``, ``tcp6``, ``udp6``, ``unix/str``...: protocol and, where it matters, family or type."""
    if sock.proto is Proto.UNIX:
        return f"unix/{sock.type.value[:3]}"
    return sock.proto.value + ("6" if sock.family is Family.IPV6 else "")


def table_row(sock: SocketRecord, users: dict[int, str]) -> tuple[str, ...]:
    """The cells of one table row, all plain safe text."""
    return (
        proto_label(sock),
        sock.state,
        fmt.endpoint(sock.local),
        fmt.endpoint(sock.remote),
        fmt.process_column(sock),
        fmt.fd_column(sock),
        fmt.user_column(sock, users),
        str(sock.recv_q),
        str(sock.send_q),
    )


def to_table(sockets: Sequence[SocketRecord], users: dict[int, str]) -> str:
    """An aligned text table with a header line."""
    rows = [TABLE_HEADERS] + [table_row(s, users) for s in sockets]
    sizes = [[fmt.width(cell) for cell in row] for row in rows]
    widths = [max(size[i] for size in sizes) for i in range(len(TABLE_HEADERS))]
    lines = []
    for row, size in zip(rows, sizes, strict=True):
        cells = []
        for cell, cell_width, w, head in zip(row, size, widths, TABLE_HEADERS, strict=True):
            pad = " " * (w - cell_width)  # padded by display cells: CJK names take two each
            cells.append(pad + cell if head in _RIGHT_ALIGNED else cell + pad)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def sort_key(sock: SocketRecord) -> tuple[Any, ...]:
    """Default order for output: protocol, family, local endpoint, remote endpoint."""
    return (
        _PROTO_ORDER.get(sock.proto, 9),
        sock.family.value,
        _endpoint_sort(sock.local),
        _endpoint_sort(sock.remote),
        sock.inode,
    )


def _endpoint_sort(ep: Endpoint | None) -> tuple[Any, ...]:
    if ep is None:
        return (0, "", 0)
    if isinstance(ep, InetEndpoint):
        return (1, ep.address, ep.port)
    return (2, ep.path or "", 0)


def sorted_sockets(snapshot: Snapshot) -> list[SocketRecord]:
    """The snapshot's sockets in the default output order."""
    return sorted(snapshot.sockets, key=sort_key)
