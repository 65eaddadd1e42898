"""Hostile process names and UNIX paths cannot forge lines or reach the terminal, and JSON keeps them exact.

A child renames itself (PR_SET_NAME) with escape sequences, a newline and Rich markup, or with bytes
that are not UTF-8 and a bidi override, and holds a UNIX listener whose path is just as hostile plus a
TCP listener. Then: the table has exactly one line per socket plus the header, with no raw control
character and the hostile parts shown as visible escapes (``\\e``, ``\\n``, ``\\xff``...); the CSV parses
into the right number of rows, each one physical line, with no control character in any field; the JSON
round-trips the exact name and path (bytes included, through surrogateescape). ``--jsonl`` too, one
object per physical line, ASCII only, with an abstract UNIX name that holds NULs added.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .holders import Holder, HolderPool, run_sockui
from .scenario import SocketBag, find_by_inode, inode_of

#: What must never reach a terminal raw: C0 (newline aside, which ends lines), DEL, C1, bidi controls,
#: zero-width characters, lone surrogates (undecodable bytes).
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


@dataclass
class Variant:
    name: bytes  # at most 15 bytes: the kernel truncates comm
    path: bytes  # file name inside tmp_path
    #: Visible forms the table and CSV must show for the name and the path.
    name_shown: str
    path_shown: str


VARIANTS = {
    "escapes": Variant(
        name=b"\x1b[31m\n[bold]x",
        path=b"h\n\x1b[2J[bold]s.sock",
        name_shown="\\e[31m\\n[bold]x",
        path_shown="h\\n\\e[2J[bold]s.sock",
    ),
    "bytes": Variant(
        name=b"\xff\x9bx\xe2\x80\xaey\r",
        path=b"b\xff\x9b\xe2\x80\xae\ts.sock",
        name_shown="\\xff\\x9bx\\u202ey\\r",
        path_shown="b\\xff\\x9b\\u202e\\ts.sock",
    ),
}


@dataclass
class Hostile:
    variant: Variant
    holder: Holder
    name: str  # as decoded with surrogateescape
    path: str
    #: The whole path as the table and CSV must show it (the tmp directory is plain text).
    path_shown: str
    unix_inode: int
    tcp_inode: int


@pytest.fixture(params=list(VARIANTS))
def hostile(request: pytest.FixtureRequest, tmp_path: Path, bag: SocketBag, holders: HolderPool) -> Hostile:
    variant = VARIANTS[request.param]
    raw_path = os.fsencode(tmp_path) + b"/" + variant.path
    assert len(raw_path) < 108, "tmp_path too long for a UNIX socket path"
    unix = bag.new(socket.AF_UNIX)
    bag.bind_unix(unix, raw_path)
    unix.listen(1)
    tcp = bag.new()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    holder = holders.spawn([unix, tcp], name=variant.name)
    hostile = Hostile(
        variant=variant,
        holder=holder,
        name=variant.name.decode("utf-8", "surrogateescape"),
        path=raw_path.decode("utf-8", "surrogateescape"),
        path_shown=f"{tmp_path}/{variant.path_shown}",
        unix_inode=inode_of(unix),
        tcp_inode=inode_of(tcp),
    )
    # The child is now the only holder of both sockets.
    bag.socks.remove(unix)
    bag.socks.remove(tcp)
    unix.close()
    tcp.close()
    assert holder.comm == hostile.name, "PR_SET_NAME did not take effect"
    return hostile


def test_table_rows_stay_single_lines(hostile: Hostile) -> None:
    variant = hostile.variant
    result = run_sockui("--once", "--filter", f"pid {hostile.holder.pid}")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert not UNSAFE.search(out), repr(UNSAFE.search(out))
    lines = out.splitlines()
    assert len(lines) == 3, lines  # header + the UNIX listener + the TCP listener
    assert lines[0].startswith("Proto")
    for line in lines[1:]:
        assert f"{hostile.holder.pid} {variant.name_shown}" in line, line
    unix_rows = [line for line in lines if hostile.path_shown in line]
    assert len(unix_rows) == 1, lines
    assert unix_rows[0].startswith("unix/str")


def test_unfiltered_table_is_clean(hostile: Hostile) -> None:
    variant = hostile.variant
    result = run_sockui("--once")
    assert result.returncode == 0, result.stderr
    assert not UNSAFE.search(result.stdout), repr(UNSAFE.search(result.stdout))
    rows = [
        line for line in result.stdout.splitlines() if f"{hostile.holder.pid} {variant.name_shown}" in line
    ]
    assert len(rows) == 2, rows


def test_csv_parses_into_clean_rows(hostile: Hostile) -> None:
    variant = hostile.variant
    result = run_sockui("--once", "--csv", "--filter", f"pid {hostile.holder.pid}")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
    assert len(rows) == 3, rows
    assert len(result.stdout.splitlines()) == 3
    header = rows[0]
    for row in rows:
        assert len(row) == len(header)
        for cell in row:
            assert not UNSAFE.search(cell) and "\n" not in cell, repr(cell)
    records = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    by_inode = {int(r["inode"]): r for r in records}
    assert set(by_inode) == {hostile.unix_inode, hostile.tcp_inode}
    assert by_inode[hostile.unix_inode]["local_path"] == hostile.path_shown
    for record in records:
        pid, name, fd = record["processes"].split("/")
        assert int(pid) == hostile.holder.pid
        assert name == variant.name_shown
        assert fd.isdigit()


def test_json_round_trips_exact_strings(hostile: Hostile) -> None:
    result = run_sockui("--once", "--json", "--filter", f"pid {hostile.holder.pid}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.isascii(), "JSON escapes everything outside ASCII"
    data: list[dict[str, Any]] = json.loads(result.stdout)
    assert len(data) == 2
    unix = find_by_inode(data, hostile.unix_inode)
    assert unix["local"] == {"path": hostile.path}
    assert unix["local"]["path"].encode("utf-8", "surrogateescape") == os.fsencode(hostile.path)
    for obj in data:
        assert [(p["pid"], p["name"]) for p in obj["processes"]] == [(hostile.holder.pid, hostile.name)]


def test_jsonl_is_one_ascii_object_per_line_with_exact_strings(
    hostile: Hostile, holders: HolderPool, bag: SocketBag
) -> None:
    # An abstract name (NULs inside, an escape sequence, a newline, markup, a byte that is not UTF-8,
    # a bidi override) held by a second process with the same hostile name.
    raw = b"\0a\0\x1b]0;pwn\x07\n[@click=x]\xff\xe2\x80\xae" + secrets.token_hex(3).encode()
    abstract = bag.new(socket.AF_UNIX)
    abstract.bind(raw)
    abstract.listen(1)
    second = holders.spawn([abstract], name=hostile.variant.name)
    abstract_inode = inode_of(abstract)
    bag.socks.remove(abstract)
    abstract.close()
    pids = (hostile.holder.pid, second.pid)
    result = run_sockui("--once", "--jsonl", "--filter", f"pid {pids[0]} or pid {pids[1]}")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.isascii(), "--jsonl escapes everything outside ASCII"
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f]", out), "a raw control character in the output"
    lines = out.split("\n")
    assert lines[-1] == "" and len(lines) == 4, lines  # three objects, each ended by its newline
    objects: list[dict[str, Any]] = [json.loads(line) for line in lines[:-1]]
    assert all(isinstance(o, dict) for o in objects)
    assert {o["inode"] for o in objects} == {hostile.unix_inode, hostile.tcp_inode, abstract_inode}
    assert find_by_inode(objects, hostile.unix_inode)["local"] == {"path": hostile.path}
    name = find_by_inode(objects, abstract_inode)["local"]["path"]
    assert name == "@" + raw[1:].decode("utf-8", "surrogateescape"), "the exact abstract name"
    assert name[1:].encode("utf-8", "surrogateescape") == raw[1:]
    for obj in objects:
        assert [p["name"] for p in obj["processes"]] == [hostile.name], obj["processes"]
        assert obj["processes"][0]["pid"] in pids
