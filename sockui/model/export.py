"""Snapshot output for scripts: the JSON schema of docs/spec.md section 5, its flattened CSV, a text table.

JSON keeps untrusted strings exact (json escapes control characters, so the output is still safe on a
terminal and round-trips). CSV and the table are line-oriented, so there every string goes through
:func:`format.safe`: one record is always one line, whatever a process called itself.
"""

from __future__ import annotations

import csv
import io
import json
import json.encoder
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TextIO

from sockui.model import format as fmt
from sockui.model.columns import BY_TITLE, output_order, output_titles, proto_label
from sockui.model.socket import (
    Binding,
    Endpoint,
    Family,
    InetEndpoint,
    Proto,
    Snapshot,
    SocketRecord,
    SockType,
)

__all__ = [
    "CSV_FIELDS",
    "JSON_KEYS",
    "proto_label",
    "record_json",
    "sorted_sockets",
    "to_csv",
    "to_json",
    "to_table",
    "write_csv",
    "write_json",
    "write_jsonl",
    "write_table",
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
    "netns",
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
    "netns_inode",
    "netns_name",
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
        "processes": [
            {"pid": o.pid, "name": o.name, "fd": o.fd, "container": o.container} for o in sock.owners
        ],
        "peer_inode": sock.peer_inode,
        "netns": {"inode": sock.netns, "name": sock.netns_label},
    }


#: Each enum member's text. ``member.value`` goes through enum's Python-level descriptor (~0.3 µs on
#: 3.11), four times per line: a dict lookup is a quarter of that. (StrEnum members equal to the same
#: text, e.g. Proto.UNIX and Family.UNIX, share a key and map to the same text.)
_TEXT: dict[object, str] = {m: m.value for e in (Proto, Family, SockType, Binding) for m in e}

#: JSON string quoting, in C; ensure_ascii style: names decoded with surrogateescape hold lone
#: surrogates, which only an escaped form can carry, and every control character comes out escaped.
_quote = json.encoder.encode_basestring_ascii


def _endpoint_text(ep: Endpoint | None) -> str:
    if ep is None:
        return "null"
    if isinstance(ep, InetEndpoint):
        return f'{{"address":{_quote(ep.address)},"port":{ep.port}}}'
    return f'{{"path":{_quote(ep.path) if ep.path is not None else "null"}}}'


def _json_line(s: SocketRecord) -> str:
    """:func:`record_json` of ``s`` as compact JSON text, written out directly.

    json's C encoder builds a new encoder object per call, ~10 µs for one small object; this is
    ~3 µs. Keys and their order are the schema's; a test checks that every line decodes to exactly
    :func:`record_json`.
    """
    processes = ",".join(
        f'{{"pid":{o.pid},"name":{_quote(o.name)},"fd":{o.fd},'
        f'"container":{"null" if o.container is None else _quote(o.container)}}}'
        for o in s.owners
    )
    uid = "null" if s.uid is None else s.uid
    peer = "null" if s.peer_inode is None else s.peer_inode
    text = _TEXT
    return (
        f'{{"proto":"{text[s.proto]}","family":"{text[s.family]}","type":"{text[s.type]}",'
        f'"state":{_quote(s.state)},"binding":"{text[s.binding]}","local":{_endpoint_text(s.local)},'
        f'"remote":{_endpoint_text(s.remote)},"inode":{s.inode},"uid":{uid},"processes":[{processes}],'
        f'"peer_inode":{peer},"netns":{{"inode":{s.netns},"name":{_quote(s.netns_label)}}}}}'
    )


#: Records formatted before each write: big enough to make writes cheap, small enough that the
#: first lines reach a pipe at once and memory stays flat.
CHUNK = 2000


def _chunks(sockets: Iterable[SocketRecord]) -> Iterator[list[SocketRecord]]:
    batch: list[SocketRecord] = []
    for sock in sockets:
        batch.append(sock)
        if len(batch) >= CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def write_json(sockets: Iterable[SocketRecord], out: TextIO) -> None:
    """A JSON array, one compact object per line: one valid document that greps and diffs by line."""
    first = True
    for batch in _chunks(sockets):
        text = ",\n".join(map(_json_line, batch))
        out.write(("[\n" if first else ",\n") + text)
        first = False
    out.write("[]\n" if first else "\n]\n")


def write_jsonl(sockets: Iterable[SocketRecord], out: TextIO) -> None:
    """The same objects, one per line, no array (``--jsonl``: for streaming into other tools)."""
    for batch in _chunks(sockets):
        out.write("\n".join(map(_json_line, batch)) + "\n")


def to_json(sockets: Iterable[SocketRecord]) -> str:
    """:func:`write_json` into a string."""
    out = io.StringIO()
    write_json(sockets, out)
    return out.getvalue()


def _flat(ep: Endpoint | None) -> tuple[str, int | str, str]:
    if ep is None:
        return "", "", ""
    if isinstance(ep, InetEndpoint):
        return ep.address, ep.port, ""
    return "", "", fmt.safe(ep.path) if ep.path is not None else ""


def _csv_name(name: str) -> str:
    # '/' and ';' separate the parts of the processes field, so they are escaped inside a name.
    return fmt.safe(name).replace("/", "\\x2f").replace(";", "\\x3b")


def _csv_row(s: SocketRecord) -> tuple[object, ...]:
    processes = ";".join(f"{o.pid}/{_csv_name(o.name)}/{o.fd}" for o in s.owners)
    text = _TEXT
    return (
        text[s.proto],
        text[s.family],
        text[s.type],
        s.state,
        text[s.binding],
        *_flat(s.local),
        *_flat(s.remote),
        s.inode,
        "" if s.uid is None else s.uid,
        processes,
        "" if s.peer_inode is None else s.peer_inode,
        s.netns,
        fmt.safe(s.netns_label),
    )


def write_csv(sockets: Iterable[SocketRecord], out: TextIO) -> None:
    """The flattened form: one header line, then one line per socket, written as they go."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for batch in _chunks(sockets):
        writer.writerows(_csv_row(s) for s in batch)


def to_csv(sockets: Iterable[SocketRecord]) -> str:
    """:func:`write_csv` into a string."""
    out = io.StringIO()
    write_csv(sockets, out)
    return out.getvalue()


def write_table(
    sockets: Sequence[SocketRecord],
    users: Mapping[int, str],
    out: TextIO,
    titles: Sequence[str] | None = None,
) -> None:
    """An aligned text table with a header line (the TUI's columns, see :mod:`columns`).

    ``titles``: the columns to print; by default those of :func:`columns.output_titles` (Netns only
    when the sockets span network namespaces).

    Cells are formatted once, column by column. Columns that are all ASCII (nearly all) are padded
    by ``%`` formatting, in C; the others are padded cell by cell to their display width first, so
    CJK names stay aligned.
    """
    defs = [BY_TITLE[t] for t in (output_titles(sockets) if titles is None else titles)]
    columns = [[c.title, *(c.cell(s, users) for s in sockets)] for c in defs]
    specs = []
    for index, (col, defn) in enumerate(zip(columns, defs, strict=True)):
        if "".join(col).isascii():
            width = max(map(len, col))
            specs.append(
                f"%{'' if defn.right else '-'}{width}s" if index < len(defs) - 1 or defn.right else "%s"
            )
            continue
        width = max(map(fmt.width, col))
        col[:] = [_pad(cell, width, defn.right) for cell in col]
        specs.append("%s")
    line = "  ".join(specs)
    rows = list(zip(*columns, strict=True))
    for start in range(0, len(rows), CHUNK):
        out.write("\n".join([(line % row).rstrip() for row in rows[start : start + CHUNK]]) + "\n")


def _pad(cell: str, width: int, right: bool) -> str:
    pad = " " * (width - fmt.width(cell))
    return pad + cell if right else cell + pad


def to_table(sockets: Sequence[SocketRecord], users: Mapping[int, str]) -> str:
    """:func:`write_table` into a string."""
    out = io.StringIO()
    write_table(sockets, users, out)
    return out.getvalue()


def sorted_sockets(snapshot: Snapshot) -> list[SocketRecord]:
    """The snapshot's sockets in the default output order."""
    return sorted(snapshot.sockets, key=output_order)
