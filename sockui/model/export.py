"""Snapshot output for scripts: the JSON schema of docs/spec.md section 5, its flattened CSV, a text table.

JSON keeps untrusted strings exact (json escapes control characters, so the output is still safe on a
terminal and round-trips). CSV and the table are line-oriented, so there every string goes through
:func:`format.safe`: one record is always one line, whatever a process called itself.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sockui.model import format as fmt
from sockui.model.columns import COLUMNS, TITLES, output_order, proto_label
from sockui.model.socket import Endpoint, InetEndpoint, Snapshot, SocketRecord

__all__ = [
    "CSV_FIELDS",
    "JSON_KEYS",
    "proto_label",
    "record_json",
    "sorted_sockets",
    "to_csv",
    "to_json",
    "to_table",
]

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


def to_table(sockets: Sequence[SocketRecord], users: Mapping[int, str]) -> str:
    """An aligned text table with a header line (the TUI's columns, see :mod:`columns`)."""
    rows = [TITLES] + [tuple(c.cell(s, users) for c in COLUMNS) for s in sockets]
    sizes = [[fmt.width(cell) for cell in row] for row in rows]
    widths = [max(size[i] for size in sizes) for i in range(len(COLUMNS))]
    lines = []
    for row, size in zip(rows, sizes, strict=True):
        cells = []
        for cell, cell_width, w, col in zip(row, size, widths, COLUMNS, strict=True):
            pad = " " * (w - cell_width)  # padded by display cells: CJK names take two each
            cells.append(pad + cell if col.right else cell + pad)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def sorted_sockets(snapshot: Snapshot) -> list[SocketRecord]:
    """The snapshot's sockets in the default output order."""
    return sorted(snapshot.sockets, key=output_order)
