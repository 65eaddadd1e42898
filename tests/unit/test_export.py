"""Script output on hand-made records: the JSON schema of docs/spec.md section 5, the CSV, the text table."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from typing import Any

import pytest

from sockui.model.export import (
    CSV_FIELDS,
    JSON_KEYS,
    proto_label,
    record_json,
    sorted_sockets,
    to_csv,
    to_json,
    to_table,
    write_jsonl,
)
from sockui.model.socket import (
    Binding,
    Endpoint,
    Family,
    InetEndpoint,
    Owner,
    Proto,
    Snapshot,
    SocketRecord,
    SockType,
    UnixEndpoint,
)

SCHEMA_KEYS = [
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
]
FLAT_FIELDS = [
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
]

HOSTILE = 'evil\x1b[31m\nname\t\u202e;x/y,"q"\udcff\\'


def rec(
    proto: Proto,
    family: Family,
    stype: SockType,
    state: str,
    binding: Binding,
    local: Endpoint | None,
    remote: Endpoint | None = None,
    *,
    inode: int = 1,
    uid: int | None = 0,
    owners: tuple[Owner, ...] = (),
    peer_inode: int | None = None,
    recv_q: int = 0,
    send_q: int = 0,
) -> SocketRecord:
    return SocketRecord(
        proto=proto,
        family=family,
        type=stype,
        state=state,
        binding=binding,
        local=local,
        remote=remote,
        inode=inode,
        uid=uid,
        owners=owners,
        peer_inode=peer_inode,
        recv_q=recv_q,
        send_q=send_q,
    )


TCP4, TCP6, UDP, UNIX = Proto.TCP, Proto.TCP, Proto.UDP, Proto.UNIX
V4, V6, UX = Family.IPV4, Family.IPV6, Family.UNIX
STREAM, DGRAM = SockType.STREAM, SockType.DGRAM

LISTENER = rec(
    TCP4,
    V4,
    STREAM,
    "LISTEN",
    Binding.LISTENING,
    InetEndpoint("127.0.0.1", 4444),
    inode=101,
    uid=0,
    owners=(Owner(10, 3, "nginx"), Owner(11, 3, "nginx")),
    send_q=128,
)
FLOW6 = rec(
    TCP6,
    V6,
    STREAM,
    "ESTABLISHED",
    Binding.CONNECTED,
    InetEndpoint("2001:db8::5", 443),
    InetEndpoint("2001:db8:1::9", 51000),
    inode=102,
    uid=1000,
    owners=(Owner(12, 7, "caddy"),),
    peer_inode=None,
    recv_q=12345,
    send_q=7,
)
TIME_WAIT = rec(
    TCP4,
    V4,
    STREAM,
    "TIME_WAIT",
    Binding.CONNECTED,
    InetEndpoint("127.0.0.1", 40000),
    InetEndpoint("127.0.0.1", 4444),
    inode=0,
    uid=None,
    peer_inode=None,
)
UNIX_CLIENT = rec(
    UNIX,
    UX,
    STREAM,
    "ESTABLISHED",
    Binding.CONNECTED,
    UnixEndpoint(None),
    UnixEndpoint("/run/x.sock"),
    inode=201,
    uid=1000,
    owners=(Owner(20, 5, "client"),),
    peer_inode=202,
)
UNIX_PAIR = rec(
    UNIX,
    UX,
    STREAM,
    "ESTABLISHED",
    Binding.CONNECTED,
    UnixEndpoint(None),
    UnixEndpoint(None),
    inode=203,
    peer_inode=204,
)
ABSTRACT = rec(UNIX, UX, DGRAM, "UNCONN", Binding.BOUND, UnixEndpoint("@bus"), inode=205)
UNBOUND = rec(
    UDP, V4, DGRAM, "UNCONN", Binding.UNBOUND, None, inode=301, uid=1000, owners=(Owner(30, 4, "py"),)
)
HOSTILE_REC = rec(
    UNIX,
    UX,
    STREAM,
    "LISTEN",
    Binding.LISTENING,
    UnixEndpoint("/tmp/" + HOSTILE),
    inode=401,
    uid=0,
    owners=(Owner(40, 9, HOSTILE), Owner(41, 2, "a;b/c")),
)

ALL = [LISTENER, FLOW6, TIME_WAIT, UNIX_CLIENT, UNIX_PAIR, ABSTRACT, UNBOUND, HOSTILE_REC]


def ordered(text: str) -> Any:
    """Parse JSON keeping key order (lists of pairs instead of dicts)."""
    return json.loads(text, object_pairs_hook=lambda pairs: pairs)


# --- JSON -----------------------------------------------------------------------------------------------


def test_json_keys_exactly_in_schema_order() -> None:
    assert list(JSON_KEYS) == SCHEMA_KEYS
    for obj in ordered(to_json(ALL)):
        assert [k for k, _v in obj] == SCHEMA_KEYS


def test_json_tcp_listener() -> None:
    assert json.loads(to_json([LISTENER])) == [
        {
            "proto": "tcp",
            "family": "ipv4",
            "type": "stream",
            "state": "LISTEN",
            "binding": "listening",
            "local": {"address": "127.0.0.1", "port": 4444},
            "remote": None,
            "inode": 101,
            "uid": 0,
            "processes": [
                {"pid": 10, "name": "nginx", "fd": 3, "container": None},
                {"pid": 11, "name": "nginx", "fd": 3, "container": None},
            ],
            "peer_inode": None,
            "netns": {"inode": 0, "name": ""},
        }
    ]
    processes = ordered(to_json([LISTENER]))[0][9][1]
    assert [[k for k, _v in p] for p in processes] == [["pid", "name", "fd", "container"]] * 2


def test_json_netns_and_container() -> None:
    sock = LISTENER._replace(
        netns=4026532247,
        netns_label="web\x1b1",
        owners=(Owner(10, 3, "nginx", "3f2a9c1b7d4e"), Owner(11, 3, "nginx")),
    )
    (obj,) = json.loads(to_json([sock]))
    assert obj["netns"] == {"inode": 4026532247, "name": "web\x1b1"}
    assert [p["container"] for p in obj["processes"]] == ["3f2a9c1b7d4e", None]
    assert json.loads(to_json([sock])) == [record_json(sock)]
    row = csv_rows(to_csv([sock]))[0]
    assert (row["netns_inode"], row["netns_name"]) == ("4026532247", "web\\e1")


def test_json_ipv6_flow_and_time_wait() -> None:
    flow, tw = json.loads(to_json([FLOW6, TIME_WAIT]))
    assert (flow["family"], flow["local"], flow["remote"]) == (
        "ipv6",
        {"address": "2001:db8::5", "port": 443},
        {"address": "2001:db8:1::9", "port": 51000},
    )
    assert isinstance(flow["local"]["port"], int)
    assert (tw["state"], tw["binding"], tw["inode"], tw["uid"], tw["processes"]) == (
        "TIME_WAIT",
        "connected",
        0,
        None,
        [],
    )


def test_json_unix_shapes() -> None:
    client, pair, abstract = json.loads(to_json([UNIX_CLIENT, UNIX_PAIR, ABSTRACT]))
    assert (client["local"], client["remote"], client["peer_inode"]) == (
        {"path": None},
        {"path": "/run/x.sock"},
        202,
    )
    assert (client["proto"], client["family"], client["type"]) == ("unix", "unix", "stream")
    assert (pair["local"], pair["remote"]) == ({"path": None}, {"path": None})
    assert (abstract["local"], abstract["remote"], abstract["type"], abstract["state"]) == (
        {"path": "@bus"},
        None,
        "dgram",
        "UNCONN",
    )


def test_json_unbound() -> None:
    (obj,) = json.loads(to_json([UNBOUND]))
    assert (obj["local"], obj["remote"], obj["state"], obj["binding"]) == (None, None, "UNCONN", "unbound")


def test_json_empty_and_record_json() -> None:
    assert json.loads(to_json([])) == []
    assert record_json(LISTENER) == json.loads(to_json([LISTENER]))[0]


def test_json_hostile_names_round_trip_and_stay_inert() -> None:
    out = to_json([HOSTILE_REC])
    # Nothing a terminal would act on reaches the output: it is plain printable ASCII and newlines.
    assert all(c == "\n" or " " <= c <= "~" for c in out)
    (obj,) = json.loads(out)
    assert obj["processes"][0]["name"] == HOSTILE
    assert obj["processes"][1]["name"] == "a;b/c"
    assert obj["local"] == {"path": "/tmp/" + HOSTILE}


def test_json_one_object_per_line_each_exactly_record_json() -> None:
    """The array is written by hand, one compact object per line (for speed): every line must decode
    to exactly what json.dumps(record_json(...)) would give, in order, and the whole must be JSON."""
    text = to_json(ALL)
    lines = text.split("\n")
    assert lines[0] == "[" and lines[-2:] == ["]", ""]
    body = lines[1:-2]
    assert len(body) == len(ALL)
    for line, sock in zip(body, ALL, strict=True):
        assert json.loads(line.rstrip(",")) == record_json(sock)
        assert ordered(line.rstrip(","))[0][0] == "proto"
    assert json.loads(text) == [record_json(s) for s in ALL]


def test_jsonl_is_one_object_per_line_without_an_array() -> None:
    out = io.StringIO()
    write_jsonl(ALL, out)
    lines = out.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == [record_json(s) for s in ALL]
    empty = io.StringIO()
    write_jsonl([], empty)
    assert empty.getvalue() == ""


def test_json_surrogates_and_controls_escaped_like_json_dumps() -> None:
    odd = "bad\udcffbyte\x00\x1b[2J\u2028"
    sock = LISTENER._replace(owners=(Owner(1, 2, odd),)) if hasattr(LISTENER, "_replace") else None
    if sock is None:
        sock = LISTENER._replace(owners=(Owner(1, 2, odd),))
    line = to_json([sock]).split("\n")[1]
    assert json.dumps(odd) in line  # the same escapes json.dumps (ensure_ascii) writes
    assert json.loads(line)["processes"][0]["name"] == odd


# --- CSV ------------------------------------------------------------------------------------------------


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_header() -> None:
    assert list(CSV_FIELDS) == FLAT_FIELDS
    assert to_csv([]) == ",".join(FLAT_FIELDS) + "\n"


def test_csv_one_line_per_record_even_with_hostile_names() -> None:
    text = to_csv(ALL)
    lines = text.split("\n")
    assert lines[-1] == ""
    assert len(lines) - 1 == 1 + len(ALL)
    assert len(text.splitlines()) == 1 + len(ALL)  # no \r, \u2028 or other line breaks either
    assert "\x1b" not in text and "\u202e" not in text


def test_csv_values() -> None:
    listener, flow, tw, client, pair, abstract, unbound, _hostile = csv_rows(to_csv(ALL))
    assert listener == {
        "proto": "tcp",
        "family": "ipv4",
        "type": "stream",
        "state": "LISTEN",
        "binding": "listening",
        "local_address": "127.0.0.1",
        "local_port": "4444",
        "local_path": "",
        "remote_address": "",
        "remote_port": "",
        "remote_path": "",
        "inode": "101",
        "uid": "0",
        "processes": "10/nginx/3;11/nginx/3",
        "peer_inode": "",
        "netns_inode": "0",
        "netns_name": "",
    }
    assert (flow["remote_address"], flow["remote_port"], flow["uid"]) == ("2001:db8:1::9", "51000", "1000")
    assert (tw["inode"], tw["uid"], tw["processes"]) == ("0", "", "")
    assert (client["local_path"], client["remote_path"], client["peer_inode"]) == ("", "/run/x.sock", "202")
    assert (pair["local_path"], pair["remote_path"]) == ("", "")
    assert abstract["local_path"] == "@bus"
    assert (unbound["local_address"], unbound["local_port"], unbound["local_path"]) == ("", "", "")


def test_csv_processes_field_splits_cleanly() -> None:
    (row,) = csv_rows(to_csv([HOSTILE_REC]))
    entries = row["processes"].split(";")
    assert len(entries) == 2
    parts = [e.split("/") for e in entries]
    assert [len(p) for p in parts] == [3, 3]
    assert [(p[0], p[2]) for p in parts] == [("40", "9"), ("41", "2")]
    assert parts[1][1] == "a\\x3bb\\x2fc"
    name = parts[0][1]
    assert "\n" not in name and "\x1b" not in name and "\u202e" not in name
    assert name.startswith("evil\\e[31m\\nname\\t\\u202e\\x3bx\\x2fy")
    assert row["local_path"] == '/tmp/evil\\e[31m\\nname\\t\\u202e;x/y,"q"\\xff\\\\'


# --- text table -----------------------------------------------------------------------------------------

HEADERS = ["Proto", "State", "Local", "Remote", "Process", "Fd", "User", "Recv-Q", "Send-Q"]
RIGHT = {"Fd", "Recv-Q", "Send-Q"}


def check_alignment(table: str, expected_rows: list[list[str]], width: Any = len) -> None:
    """Every cell starts (left columns) or ends (right columns) at its header's display column."""
    lines = table.split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    assert len(lines) == 1 + len(expected_rows)
    header = lines[0]
    for line, cells in zip(lines[1:], expected_rows, strict=True):
        for title, cell in zip(HEADERS, cells, strict=True):
            if not cell:
                continue
            start = header.index(title)
            if title in RIGHT:
                end = _index_in_cells(line, width, width(header[: start + len(title)]))
                assert line[:end].endswith(cell), (title, cell, line)
            else:
                at = _index_in_cells(line, width, width(header[:start]))
                assert line[at:].startswith(cell), (title, cell, line)


def _index_in_cells(line: str, width: Any, cells: int) -> int:
    """The string index where display column ``cells`` starts."""
    for i in range(len(line) + 1):
        if width(line[:i]) == cells:
            return i
    raise AssertionError(f"no character starts at column {cells} in {line!r}")


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_table_aligned_with_numeric_columns_right_aligned() -> None:
    users = {0: "root", 1000: "alice"}
    table = to_table([LISTENER, FLOW6, UNIX_CLIENT, UNBOUND], users)
    check_alignment(
        table,
        [
            ["tcp", "LISTEN", "127.0.0.1:4444", "", "10 nginx +1", "3", "root", "0", "128"],
            [
                "tcp6",
                "ESTABLISHED",
                "[2001:db8::5]:443",
                "[2001:db8:1::9]:51000",
                "12 caddy",
                "7",
                "alice",
                "12345",
                "7",
            ],
            ["unix/str", "ESTABLISHED", "*", "/run/x.sock", "20 client", "5", "alice", "0", "0"],
            ["udp", "UNCONN", "", "", "30 py", "4", "alice", "0", "0"],
        ],
    )
    lines = table.splitlines()
    assert lines[0].split() == HEADERS
    # Right alignment: the short "0" ends under the last character of "Recv-Q", like "12345".
    recv_end = lines[0].index("Recv-Q") + len("Recv-Q")
    assert lines[1][recv_end - 1] == "0" and lines[2][recv_end - 5 : recv_end] == "12345"
    assert all(line == line.rstrip() for line in lines)


def test_table_hostile_names_one_line_each() -> None:
    table = to_table(ALL, {})
    assert len(table.splitlines()) == 1 + len(ALL)
    assert "\x1b" not in table and "\u202e" not in table and "\udcff" not in table


def test_table_aligns_wide_characters_in_display_cells() -> None:
    # A process may call itself anything, CJK included: a terminal shows each such character in two
    # cells, so padding by len() pushes the rest of that row right.
    wide = rec(
        TCP4,
        V4,
        STREAM,
        "LISTEN",
        Binding.LISTENING,
        InetEndpoint("0.0.0.0", 80),
        inode=7,
        owners=(Owner(99, 6, "日本語サーバ"),),
    )
    table = to_table([wide, LISTENER], {0: "root"})
    check_alignment(
        table,
        [
            ["tcp", "LISTEN", "0.0.0.0:80", "", "99 日本語サーバ", "6", "root", "0", "0"],
            ["tcp", "LISTEN", "127.0.0.1:4444", "", "10 nginx +1", "3", "root", "0", "128"],
        ],
        width=display_width,
    )


# --- labels and order -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sock", "label"),
    [
        (LISTENER, "tcp"),
        (FLOW6, "tcp6"),
        (UNBOUND, "udp"),
        (rec(UDP, V6, DGRAM, "UNCONN", Binding.BOUND, InetEndpoint("::", 1)), "udp6"),
        (rec(Proto.RAW, V6, SockType.RAW, "UNCONN", Binding.BOUND, InetEndpoint("::", 58)), "raw6"),
        (UNIX_CLIENT, "unix/str"),
        (ABSTRACT, "unix/dgr"),
        (rec(UNIX, UX, SockType.SEQPACKET, "UNCONN", Binding.BOUND, UnixEndpoint("/s")), "unix/seq"),
    ],
)
def test_proto_label(sock: SocketRecord, label: str) -> None:
    assert proto_label(sock) == label


def test_sorted_sockets_default_order() -> None:
    raw = rec(Proto.RAW, V4, SockType.RAW, "UNCONN", Binding.BOUND, InetEndpoint("0.0.0.0", 1), inode=9)
    snapshot = Snapshot(
        sockets=(ABSTRACT, UNIX_CLIENT, raw, UNBOUND, FLOW6, TIME_WAIT, LISTENER), taken_at=0.0
    )
    order = sorted_sockets(snapshot)
    assert [s.proto for s in order] == [
        Proto.TCP,
        Proto.TCP,
        Proto.TCP,
        Proto.UDP,
        Proto.RAW,
        Proto.UNIX,
        Proto.UNIX,
    ]
    # Within TCP: IPv4 before IPv6, then by local endpoint.
    assert order[:3] == [LISTENER, TIME_WAIT, FLOW6]
    # Within UNIX: named ends first, unnamed ones (the noise of a desktop's socketpairs) last.
    assert order[5:] == [ABSTRACT, UNIX_CLIENT]


def test_addresses_sort_by_value_not_text() -> None:
    def at(address: str, inode: int) -> SocketRecord:
        return rec(
            Proto.TCP,
            V4,
            SockType.STREAM,
            "LISTEN",
            Binding.LISTENING,
            InetEndpoint(address, 80),
            inode=inode,
        )

    socks = (at("127.0.0.10", 1), at("127.0.0.2", 2), at("10.0.0.1", 3))
    order = sorted_sockets(Snapshot(sockets=socks, taken_at=0.0))
    assert [s.inode for s in order] == [3, 2, 1]
