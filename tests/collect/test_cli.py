"""The `--once` command line end to end: CSV and table output, filters, and how bad input is refused.

Run against the shared scenario (real sockets held by this process and a child): the CSV header is the
flattened field list of docs/spec.md section 5 and each socket is one line with the right flattened values;
the table has one line per socket and shows our listener with our pid; `--filter` really selects (by
port, source/destination port, pid and protocol); a bad expression exits 2 with nothing on stdout and a
caret under the offending column on stderr; an unknown option exits 2 through argparse.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .holders import run_sockui
from .scenario import Scenario, own_socket_inodes

CSV_FIELDS = [
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


def sockui_json(*args: str) -> list[dict[str, Any]]:
    result = run_sockui("--once", "--json", *args)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    return data


def sockui_csv(*args: str) -> tuple[str, list[dict[str, str]]]:
    result = run_sockui("--once", "--csv", *args)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == CSV_FIELDS
    # One physical line per record: no quoted field spans lines.
    assert len(text.splitlines()) == len(rows)
    return text, [dict(zip(CSV_FIELDS, row, strict=True)) for row in rows[1:]]


def test_csv_header_and_one_line_per_socket(scenario: Scenario) -> None:
    _, rows = sockui_csv()
    inodes = [int(r["inode"]) for r in rows]
    for key, inode in scenario.own_inodes().items():
        assert inodes.count(inode) == 1, key


def test_csv_rows_flatten_the_fields(scenario: Scenario) -> None:
    sc = scenario
    _, rows = sockui_csv("--filter", f"pid {sc.pid}")
    by_inode = {int(r["inode"]): r for r in rows}
    assert set(by_inode) == own_socket_inodes() >= set(sc.own_inodes().values())

    listener = by_inode[sc.inode("tcp4_listener")]
    assert listener == {
        "proto": "tcp",
        "family": "ipv4",
        "type": "stream",
        "state": "LISTEN",
        "binding": "listening",
        "local_address": "127.0.0.1",
        "local_port": str(sc.port("tcp4_listener")),
        "local_path": "",
        "remote_address": "",
        "remote_port": "",
        "remote_path": "",
        "inode": str(sc.inode("tcp4_listener")),
        "uid": str(os.geteuid()),
        "processes": f"{sc.pid}/{sc.comm}/{sc.fd('tcp4_listener')}",
        "peer_inode": "",
        "netns_inode": str(os.stat("/proc/self/ns/net").st_ino),
        "netns_name": "host",
    }
    client = by_inode[sc.inode("tcp4_client")]
    assert (client["remote_address"], client["remote_port"]) == ("127.0.0.1", str(sc.port("tcp4_listener")))
    assert client["peer_inode"] == str(sc.inode("tcp4_server"))

    unix_client = by_inode[sc.inode("unix_client")]
    assert (unix_client["local_path"], unix_client["remote_path"]) == ("", sc.unix_path)
    assert unix_client["local_address"] == unix_client["local_port"] == ""
    assert unix_client["peer_inode"] == str(sc.inode("unix_server"))

    assert sc.holder is not None
    holders = sorted(
        [
            (sc.pid, sc.comm, sc.fd("shared")),
            (sc.holder.pid, sc.holder.comm, sc.holder.fd_for(sc.fd("shared"))),
        ]
    )
    shared = by_inode[sc.inode("shared")]
    assert shared["processes"] == ";".join(f"{pid}/{name}/{fd}" for pid, name, fd in holders)


def test_table_shows_listener_with_pid(scenario: Scenario) -> None:
    sc = scenario
    port = sc.port("tcp4_listener")
    result = run_sockui("--once")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["Proto", "State", "Local", "Remote"]
    rows = [line for line in lines if line.split()[1:3] == ["LISTEN", f"127.0.0.1:{port}"]]
    assert len(rows) == 1, rows
    cells = rows[0].split()
    assert cells[0] == "tcp"
    assert str(sc.pid) in cells
    assert str(sc.fd("tcp4_listener")) in cells


def test_table_has_one_line_per_socket(scenario: Scenario) -> None:
    expr = f"pid {scenario.pid}"
    result = run_sockui("--once", "--filter", expr)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    listed = sockui_json("--filter", expr)
    mine = own_socket_inodes()
    assert {o["inode"] for o in listed} == mine
    assert len(lines) - 1 == len(listed) == len(mine), (result.stdout, result.stderr, listed)
    # The Process column names the first holder (lowest pid), "+N" when others hold the socket too.
    for line in lines[1:]:
        cells = line.split()
        assert str(scenario.pid) in cells or any(c.startswith("+") for c in cells), line


def test_filter_port_selects_both_ends(scenario: Scenario) -> None:
    sc = scenario
    port = sc.port("tcp4_listener")
    found = sockui_json("--filter", f"port {port}")
    for obj in found:
        ends = [e.get("port") for e in (obj["local"], obj["remote"]) if e is not None]
        assert port in ends, obj
    inodes = {o["inode"] for o in found}
    mine = {sc.inode(k) for k in ("tcp4_listener", "tcp4_client", "tcp4_server")}
    assert mine <= inodes
    others = set(sc.own_inodes().values()) - mine
    assert not others & inodes


def test_filter_sport_and_dport(scenario: Scenario) -> None:
    sc = scenario
    port = sc.port("tcp4_listener")
    mine = set(sc.own_inodes().values())
    sport = {o["inode"] for o in sockui_json("--filter", f"sport = {port}")} & mine
    assert sport == {sc.inode("tcp4_listener"), sc.inode("tcp4_server")}
    dport = {o["inode"] for o in sockui_json("--filter", f"dport = {port}")} & mine
    assert dport == {sc.inode("tcp4_client")}


def test_filter_pid_and_protocol(scenario: Scenario) -> None:
    sc = scenario
    scenario_inodes = set(sc.own_inodes().values())
    found = sockui_json("--filter", f"pid {sc.pid} and udp")
    assert all(o["proto"] == "udp" and sc.pid in [p["pid"] for p in o["processes"]] for o in found), found
    udp = {"udp_bound", "udp_connected", "udp6_bare"}
    assert {o["inode"] for o in found} & scenario_inodes == {sc.inode(k) for k in udp}

    listening = sockui_json("--filter", f"pid {sc.pid} and (listening and not unix)")
    assert all(o["binding"] == "listening" and o["proto"] != "unix" for o in listening), listening
    expected = {"tcp4_listener", "tcp6_listener", "tcp_mapped_listener", "shared"} & set(sc.socks)
    assert {o["inode"] for o in listening} & scenario_inodes == {sc.inode(k) for k in expected}


@pytest.mark.parametrize(
    ("expr", "column"),
    [
        ("port >", 6),  # the missing port: at the end of the input
        ("tcp and (udp", 8),  # the '(' that is never closed
        ("udp and port 99999", 13),  # the out-of-range number
    ],
)
@pytest.mark.parametrize("fmt", [[], ["--json"], ["--csv"]], ids=["table", "json", "csv"])
def test_bad_filter_exits_2_with_caret(expr: str, column: int, fmt: list[str]) -> None:
    result = run_sockui("--once", *fmt, "--filter", expr)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    echo = [i for i, line in enumerate(lines) if line.strip() == expr]
    assert echo, f"the expression is not echoed on stderr: {result.stderr!r}"
    i = echo[0]
    assert i >= 1 and lines[0].strip(), "a message comes first"
    assert i + 1 < len(lines), "a caret line follows the expression"
    caret_line = lines[i + 1]
    assert set(caret_line.strip()) == {"^"}, caret_line
    start = lines[i].index(expr)
    assert caret_line.index("^") - start == column, (lines[i], caret_line)


def test_unknown_option_exits_2() -> None:
    result = run_sockui("--once", "--bogus")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "unrecognized arguments: --bogus" in result.stderr
    assert "usage:" in result.stderr


def test_console_script_same_as_module(scenario: Scenario) -> None:
    script = Path(sys.executable).with_name("sockui")
    if not script.exists():
        pytest.skip(f"no sockui console script next to {sys.executable} (package not installed)")
    expr = f"pid {scenario.pid}"
    result = subprocess.run(
        [str(script), "--once", "--json", "--filter", expr],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert {o["inode"] for o in json.loads(result.stdout)} == own_socket_inodes()
