"""Filter expressions: every form of the language, its errors and its robustness, on hand-made records."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from typing import Any, cast

import pytest

from sockui.model.filters import Filter, FilterError, parse
from sockui.model.services import parse_services
from sockui.model.socket import (
    Binding,
    Endpoint,
    Family,
    InetEndpoint,
    Owner,
    Proto,
    SocketRecord,
    SockType,
    UnixEndpoint,
)

_TYPES = {Proto.TCP: SockType.STREAM, Proto.UDP: SockType.DGRAM, Proto.UNIX: SockType.STREAM}


def rec(
    proto: Proto = Proto.TCP,
    *,
    family: Family | None = None,
    state: str = "ESTABLISHED",
    binding: Binding = Binding.CONNECTED,
    local: Endpoint | None = None,
    remote: Endpoint | None = None,
    uid: int | None = 1000,
    owners: tuple[Owner, ...] = (),
) -> SocketRecord:
    if family is None:
        family = Family.UNIX if proto is Proto.UNIX else Family.IPV4
    return SocketRecord(
        proto=proto,
        family=family,
        type=_TYPES.get(proto, SockType.RAW),
        state=state,
        binding=binding,
        local=local,
        remote=remote,
        inode=1,
        uid=uid,
        owners=owners,
    )


def ep(address: str, port: int) -> InetEndpoint:
    return InetEndpoint(address, port)


def own(name: str, pid: int) -> tuple[Owner, ...]:
    return (Owner(pid=pid, fd=3, name=name),)


SAMPLES: dict[str, SocketRecord] = {
    "https": rec(local=ep("10.0.0.5", 51000), remote=ep("93.184.216.34", 443), owners=own("curl", 4242)),
    "ssh_listen": rec(
        state="LISTEN", binding=Binding.LISTENING, local=ep("0.0.0.0", 22), uid=0, owners=own("sshd", 1)
    ),
    "ssh_conn": rec(
        local=ep("10.0.0.5", 22), remote=ep("198.51.100.7", 50123), uid=0, owners=own("sshd", 900)
    ),
    "syn_sent": rec(state="SYN_SENT", local=ep("10.1.2.3", 40000), remote=ep("203.0.113.9", 8080)),
    "close_wait": rec(state="CLOSE_WAIT", local=ep("127.0.0.1", 5432), remote=ep("127.0.0.1", 41000)),
    "bound_inactive": rec(state="BOUND_INACTIVE", binding=Binding.BOUND, local=ep("0.0.0.0", 9000)),
    "time_wait": rec(
        state="TIME_WAIT", local=ep("10.0.0.5", 51001), remote=ep("93.184.216.34", 443), uid=None
    ),
    "dns": rec(
        Proto.UDP,
        state="UNCONN",
        binding=Binding.BOUND,
        local=ep("127.0.0.53", 53),
        uid=101,
        owners=own("systemd-resolved", 555),
    ),
    "unbound_udp": rec(Proto.UDP, state="UNCONN", binding=Binding.UNBOUND, uid=None),
    "v6": rec(
        family=Family.IPV6,
        local=ep("2001:db8::5", 8443),
        remote=ep("2001:db8:1::9", 60000),
        owners=own("Caddy", 77),
    ),
    "mapped": rec(
        family=Family.IPV6,
        local=ep("::ffff:10.0.0.5", 8080),
        remote=ep("::ffff:192.168.1.20", 40000),
        owners=own("java", 300),
    ),
    "unix_listen": rec(
        Proto.UNIX,
        state="LISTEN",
        binding=Binding.LISTENING,
        local=UnixEndpoint("/run/my app.sock"),
        owners=own("my app", 600),
    ),
    "unix_client": rec(
        Proto.UNIX,
        local=UnixEndpoint(None),
        remote=UnixEndpoint("/run/my app.sock"),
        owners=own("client", 601),
    ),
    "abstract": rec(
        Proto.UNIX,
        state="UNCONN",
        binding=Binding.BOUND,
        local=UnixEndpoint("@dbus-x"),
        owners=own("dbus", 2),
    ),
    "raw": rec(
        Proto.RAW, state="UNCONN", binding=Binding.BOUND, local=ep("0.0.0.0", 1), owners=own("tcpdump", 700)
    ),
}
ALL = set(SAMPLES)
TCP = {
    "https",
    "ssh_listen",
    "ssh_conn",
    "syn_sent",
    "close_wait",
    "bound_inactive",
    "time_wait",
    "v6",
    "mapped",
}
UDP = {"dns", "unbound_udp"}
UNIX = {"unix_listen", "unix_client", "abstract"}
IPV6 = {"v6", "mapped"}
ESTABLISHED = {"https", "ssh_conn", "v6", "mapped", "unix_client"}
LISTENING = {"ssh_listen", "unix_listen"}
HOST_5 = {"https", "ssh_conn", "time_wait", "mapped"}  # local address 10.0.0.5 (or ::ffff:10.0.0.5)
LOCAL_10 = HOST_5 | {"syn_sent"}  # local address in 10.0.0.0/8


#: A services table as the collector would read it from /etc/services.
SERVICES = parse_services(
    "ssh 22/tcp\nhttps 443/tcp\nhttps 443/udp\ndomain 53/tcp\ndomain 53/udp nameserver\n"
)


def matching(expr: str, users: Mapping[int, str] | None = None) -> set[str]:
    flt = parse(expr, SERVICES)
    return {name for name, sock in SAMPLES.items() if flt.matches(sock, users)}


def error(expr: str) -> FilterError:
    with pytest.raises(FilterError) as info:
        parse(expr)
    return info.value


# --- keywords -------------------------------------------------------------------------------------


@pytest.mark.parametrize("expr", ["", "   ", "\t"])
def test_blank_expression_matches_everything(expr: str) -> None:
    assert matching(expr) == ALL
    assert parse(expr).is_empty


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("tcp", TCP),
        ("TCP", TCP),
        ("udp", UDP),
        ("unix", UNIX),
        ("raw", {"raw"}),
        *[(alias, ALL - UNIX - IPV6) for alias in ("ipv4", "inet4", "ip4", "v4", "IPv4")],
        *[(alias, IPV6) for alias in ("ipv6", "inet6", "ip6", "v6")],
        ("inet", ALL - UNIX),
        ("listening", LISTENING),
        ("listen", LISTENING),
        ("connected", TCP - {"ssh_listen", "bound_inactive"} | {"unix_client"}),
        ("bound", {"bound_inactive", "dns", "abstract", "raw"}),
        ("unbound", {"unbound_udp"}),
    ],
)
def test_keywords(expr: str, expected: set[str]) -> None:
    assert matching(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("state established", ESTABLISHED),
        ("state ESTABLISHED", ESTABLISHED),
        ("state Established", ESTABLISHED),
        ("state=established", ESTABLISHED),
        ("state 'established'", ESTABLISHED),
        *[(f"state {name}", {"time_wait"}) for name in ("time-wait", "TIME_WAIT", "timewait", "time_wait")],
        ("state syn-sent", {"syn_sent"}),
        ("state close-wait", {"close_wait"}),
        ("state bound-inactive", {"bound_inactive"}),
        ("state unconn", {"dns", "unbound_udp", "abstract", "raw"}),
        ("state listen", LISTENING),
        ("state listening", LISTENING),
        ("state != established", ALL - ESTABLISHED),
    ],
)
def test_state(expr: str, expected: set[str]) -> None:
    assert matching(expr) == expected


# --- ports ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("port 443", {"https", "time_wait"}),
        ("port=443", {"https", "time_wait"}),
        ("port == 443", {"https", "time_wait"}),
        ("port :443", {"https", "time_wait"}),
        ("sport 22", {"ssh_listen", "ssh_conn"}),
        ("dport 22", set()),
        ("dport 443", {"https", "time_wait"}),
        ("sport >= 50000", {"https", "time_wait"}),
        ("sport>=50000", {"https", "time_wait"}),
        ("sport < 54", {"ssh_listen", "ssh_conn", "dns", "raw"}),
        ("sport <= 22", {"ssh_listen", "ssh_conn", "raw"}),
        ("dport > 50000", {"ssh_conn", "v6"}),
        # != needs the end to exist: no remote (listeners, UDP, UNIX) never matches.
        ("dport != 443", {"ssh_conn", "syn_sent", "close_wait", "v6", "mapped"}),
        ("dport!=443", {"ssh_conn", "syn_sent", "close_wait", "v6", "mapped"}),
        # Either end: "port != 22" excludes the ssh connection although its remote is not 22.
        ("port != 22", ALL - UNIX - {"ssh_listen", "ssh_conn", "unbound_udp"}),
    ],
)
def test_ports(expr: str, expected: set[str]) -> None:
    assert matching(expr) == expected


def test_port_by_service_name() -> None:
    assert matching("port https") == matching("port 443")
    assert matching("sport ssh") == matching("sport 22")
    assert matching("dport=HTTPS") == matching("dport 443")
    assert matching("addr 93.184.216.34:https") == {"https", "time_wait"}
    assert matching("port nameserver") == matching("port 53")  # aliases too


def test_service_names_come_from_the_table_only() -> None:
    """Parsing does no I/O: without a services table a name is unknown, whatever /etc/services says."""
    with pytest.raises(FilterError, match="unknown port or service 'https'"):
        parse("port https")


# --- addresses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("src 10.0.0.0/8", LOCAL_10),
        ("src 10.0.0.5", HOST_5),
        ("src=10.0.0.5", HOST_5),
        ("dst 93.184.216.34", {"https", "time_wait"}),
        ("addr 127.0.0.53", {"dns"}),
        ("addr 127.0.0.1", {"close_wait"}),
        ("addr localhost", {"dns", "close_wait"}),
        ("addr 2001:db8::/32", {"v6"}),
        ("dst 2001:db8:1::9", {"v6"}),
        ("src != 10.0.0.0/8", ALL - UNIX - LOCAL_10 - {"unbound_udp"}),
        # address and port on the same end
        ("src 10.0.0.5:22", {"ssh_conn"}),
        ("addr 93.184.216.34:443", {"https", "time_wait"}),
        ("dst [2001:db8:1::9]:60000", {"v6"}),
        ("dst [2001:db8:1::9]:1", set()),
        ("src *:22", {"ssh_listen", "ssh_conn"}),
        ("src :22", {"ssh_listen", "ssh_conn"}),
        ("src 10.0.0.5:*", HOST_5),
        ("src [::ffff:10.0.0.5]:8080", {"mapped"}),
    ],
)
def test_addresses(expr: str, expected: set[str]) -> None:
    assert matching(expr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # IPv4 filters match IPv4-mapped IPv6 records ...
        ("dst 192.168.0.0/16", {"mapped"}),
        ("src 10.0.0.5", HOST_5),
        # ... and IPv4-mapped filters match IPv4 records.
        ("src ::ffff:10.0.0.5", HOST_5),
        ("src ::ffff:10.0.0.0/104", LOCAL_10),
        ("addr ::ffff:127.0.0.53", {"dns"}),
    ],
)
def test_ipv4_mapped_addresses_match_both_ways(expr: str, expected: set[str]) -> None:
    assert matching(expr) == expected


# --- owners, users, paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("pid 4242", {"https"}),
        ("pid=900", {"ssh_conn"}),
        ("pid < 100", {"ssh_listen", "v6", "abstract"}),
        ("pid != 1", {name for name, s in SAMPLES.items() if s.owners} - {"ssh_listen"}),
        ("proc sshd", {"ssh_listen", "ssh_conn"}),
        ("process sshd", {"ssh_listen", "ssh_conn"}),
        ("proc ssh*", {"ssh_listen", "ssh_conn"}),
        ("proc ssh", {"ssh_listen", "ssh_conn"}),  # no wildcard: a substring, as users expect
        ("proc SSHD", {"ssh_listen", "ssh_conn"}),  # any case
        ("proc c?rl", {"https"}),
        ("proc 'my app'", {"unix_listen"}),
        ('proc "my app"', {"unix_listen"}),
        ("proc tcp", {"raw"}),  # a keyword is fine as an argument
        ("proc tcp*", {"raw"}),
        ("proc != sshd", {name for name, s in SAMPLES.items() if s.owners} - {"ssh_listen", "ssh_conn"}),
        ("path /run/*", {"unix_listen", "unix_client"}),
        ("path '/run/my app.sock'", {"unix_listen", "unix_client"}),
        ("path @dbus*", {"abstract"}),
        ("path /run/my", set()),
        ("path != /run/*", {"abstract"}),
        ("user 0", {"ssh_listen", "ssh_conn"}),
        ("uid 101", {"dns"}),
        ("user != 0", ALL - {"ssh_listen", "ssh_conn", "time_wait", "unbound_udp"}),
    ],
)
def test_owner_user_and_path(expr: str, expected: set[str]) -> None:
    assert matching(expr) == expected


def test_user_by_name_uses_the_snapshot_users_first() -> None:
    users = {1000: "alice", 0: "admin", 101: "systemd-resolve"}
    assert matching("user alice", users) == {n for n, s in SAMPLES.items() if s.uid == 1000}
    assert matching("user 'systemd-*'", users) == {"dns"}
    # uid 0 is in the map, so pwd is not consulted: the snapshot's name wins.
    assert matching("user admin", users) == {"ssh_listen", "ssh_conn"}
    assert matching("user root", users) == set()
    # A socket without a uid never matches, negated or not.
    assert "time_wait" not in matching("user != alice", users)


def test_user_names_come_from_the_snapshot_only() -> None:
    """The collector resolves every uid of a snapshot; the filter does no passwd lookups of its own."""
    assert matching("user root", {0: "root"}) == {"ssh_listen", "ssh_conn"}
    assert matching("user root", {1000: "alice"}) == set()  # uid 0 not named in this snapshot
    assert matching("user 0", {}) == {"ssh_listen", "ssh_conn"}  # numbers need no names
    assert matching("user no-such-user-here") == set()


# --- boolean structure ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("tcp listening", {"ssh_listen"}),
        ("tcp and listening", {"ssh_listen"}),
        ("tcp && listening", {"ssh_listen"}),
        ("tcp AND listening", {"ssh_listen"}),
        ("udp or unix", UDP | UNIX),
        ("udp || unix", UDP | UNIX),
        ("udp OR unix", UDP | UNIX),
        ("not tcp", ALL - TCP),
        ("!tcp", ALL - TCP),
        ("! tcp", ALL - TCP),
        ("NOT tcp", ALL - TCP),
        ("not not tcp", TCP),
        ("(tcp)", TCP),
        # precedence: not > and > or; juxtaposition is and
        ("tcp listening or udp", {"ssh_listen"} | UDP),
        ("tcp (listening or udp)", {"ssh_listen"}),
        ("udp or unix and listening", UDP | {"unix_listen"}),
        ("(udp or unix) and listening", {"unix_listen"}),
        ("not tcp or udp", ALL - TCP),
        ("not tcp and not udp", ALL - TCP - UDP),
        ("not (tcp or udp)", ALL - TCP - UDP),
        ("!(tcp||udp)&&!raw", UNIX),
        ("tcp and not (port 443 or sport 22) listening", set()),
        ("tcp udp or unix listening", {"unix_listen"}),
        ("tcp not listening", TCP - {"ssh_listen"}),
        ("unix !listening", UNIX - {"unix_listen"}),
    ],
)
def test_boolean_operators_and_precedence(expr: str, expected: set[str]) -> None:
    assert matching(expr) == expected


# --- quoting and bare words -----------------------------------------------------------------------


def test_quoted_keyword_is_a_bare_word() -> None:
    # 'tcp' searches: it finds the tcpdump process, which is on a RAW socket, and no TCP socket.
    assert matching("'tcp'") == {"raw"}
    assert matching('"TCP"') == {"raw"}
    assert matching("tcp") == TCP


def test_backslash_escapes_the_quote_inside_quotes() -> None:
    sock = rec(owners=own("it's", 5))
    assert parse(r"proc 'it\'s'").matches(sock)
    assert parse('proc "it\'s"').matches(sock)
    assert not parse(r"proc 'it\'s'").matches(SAMPLES["https"])


def test_fnmatch_negated_class_is_not_a_not() -> None:
    assert matching("proc [!s]*") == {
        "https",
        "v6",
        "mapped",
        "unix_listen",
        "unix_client",
        "abstract",
        "raw",
    }
    assert matching("proc [!d]*d") == {"ssh_listen", "ssh_conn", "dns"}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("10.0.0", HOST_5),  # address substring
        ("db8:1", {"v6"}),
        ("443", {"https", "time_wait"}),  # exact port: not 8443
        ("8443", {"v6"}),
        ("SSH", {"ssh_listen", "ssh_conn"}),  # process name, case-insensitive
        ("resolv", {"dns"}),
        ("caddy", {"v6"}),
        ("ss*", {"ssh_listen", "ssh_conn"}),  # glob over the whole name
        ("*D", {"ssh_listen", "ssh_conn", "dns"}),
        ("app.sock", {"unix_listen", "unix_client"}),  # UNIX path substring
        ("/RUN/*", {"unix_listen", "unix_client"}),
        ("@dbus", {"abstract"}),
        ("10.0.0.0/8", LOCAL_10),  # an address spec also matches like addr
        ("[2001:db8:1::9]:60000", {"v6"}),
        (":22", {"ssh_listen", "ssh_conn"}),
        ("nothing-like-this", set()),
    ],
)
def test_bare_word_search(expr: str, expected: set[str]) -> None:
    assert matching(expr) == expected


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "message", "carets"),
    [
        # unexpected characters
        ("tcp & udp", "unexpected '&' (write '&&' or 'and')", "      ^"),
        ("tcp | udp", "unexpected '|' (write '||' or 'or')", "      ^"),
        ("a \x01 b", "unexpected control character (U+0001)", "    ^"),
        ("tcp = 5", "unexpected '=': comparisons follow a keyword, as in 'port = 443'", "      ^"),
        # parentheses
        ("(tcp or udp", "missing ')' for this '('", "  ^"),
        ("((tcp)", "missing ')' for this '('", "  ^"),
        ("tcp (udp (unix)", "missing ')' for this '('", "      ^"),
        ("(", "missing ')' for this '('", "  ^"),
        ("tcp)", "')' without a matching '('", "     ^"),
        (") tcp", "')' without a matching '('", "  ^"),
        ("()", "empty parentheses", "  ^^"),
        ("tcp ( )", "empty parentheses", "      ^^^"),
        # keywords missing their argument: under what stands in its place, or just past the end
        ("port", "expected a port after 'port'", "      ^"),
        ("tcp port and udp", "expected a port after 'port'", "           ^^^"),
        ("sport >=", "expected a port after 'sport >='", "          ^"),
        ("(dport)", "expected a port after 'dport'", "        ^"),
        ("state", "expected a state name after 'state'", "       ^"),
        ("src", "expected an address after 'src'", "     ^"),
        ("pid", "expected a process id after 'pid'", "     ^"),
        ("proc", "expected a process name after 'proc'", "      ^"),
        ("user", "expected a user name or uid after 'user'", "      ^"),
        ("path", "expected a path after 'path'", "      ^"),
        # operators without operands
        ("tcp and", "expected a filter after 'and'", "      ^^^"),
        ("tcp ||", "expected a filter after '||'", "      ^^"),
        ("not", "expected a filter after 'not'", "  ^^^"),
        ("(tcp or)", "expected a filter after 'or'", "       ^^"),
        ("and tcp", "expected a filter before 'and'", "  ^^^"),
        ("tcp or or udp", "expected a filter before 'or'", "         ^^"),
        # bad arguments
        ("port 70000", "port '70000' is out of range (0-65535)", "       ^^^^^"),
        ("port -1", "port '-1' is out of range (0-65535)", "       ^^"),
        ("src::1", "ambiguous 'src::1': put a space after 'src' ('src ::1' or 'src :1')", "     ^^"),
        (
            "tcp and dst::ffff:1.2.3.4",
            "ambiguous 'dst::ffff:1.2.3.4': put a space after 'dst' "
            "('dst ::ffff:1.2.3.4' or 'dst :ffff:1.2.3.4')",
            "             ^^",
        ),
        ("port no-such-service", "unknown port or service 'no-such-service'", "       ^^^^^^^^^^^^^^^"),
        ("pid 12a", "bad process id '12a' (expected a number)", "      ^^^"),
        ("pid 123456789012", "pid '123456789012' is too large", "      ^^^^^^^^^^^^"),
        (
            "state > listen",
            "'>' only compares numbers (port, sport, dport, pid, inode); use '=' or '!='",
            "        ^",
        ),
        (
            "state establshed",
            "unknown state 'establshed' (try: established, listen, time-wait, close-wait, ...)",
            "        ^^^^^^^^^^",
        ),
        (
            "src 10.0.0.300",
            "bad address '10.0.0.300' (expected an IP address or network like 10.0.0.0/8)",
            "      ^^^^^^^^^^",
        ),
        ("dst [::1", "bad address '[::1' (expected an IP address or network like 10.0.0.0/8)", "      ^^^^"),
        (
            "addr 1.2.3.4:99999",
            "bad address '1.2.3.4:99999' (expected an IP address or network like 10.0.0.0/8)",
            "       ^^^^^^^^^^^^^",
        ),
        # quotes
        ("proc 'abc", "missing closing ' for this quote", "       ^"),
        ('tcp "', 'missing closing " for this quote', "      ^"),
        ("proc ''", "empty quotes: nothing to match", "       ^^"),
        ("(" * 65 + "tcp" + ")" * 65, "too many nested parentheses (at most 64)", "  " + " " * 64 + "^"),
    ],
)
def test_errors_name_the_problem_and_point_at_it(expr: str, message: str, carets: str) -> None:
    err = error(expr)
    assert isinstance(err, ValueError)
    assert err.message == message
    assert str(err) == message
    lines = err.render(expr).split("\n")
    assert len(lines) == 3
    assert lines[0] == message
    assert lines[1] == "  " + "".join(c if c.isprintable() else "?" for c in expr)
    assert lines[2] == carets
    assert lines[2].strip() == "^" * err.length


def test_render_exact_output() -> None:
    assert error("tcp and").render("tcp and") == "expected a filter after 'and'\n  tcp and\n      ^^^"
    assert error("port").render("port") == "expected a port after 'port'\n  port\n      ^"


def test_render_shows_control_characters_and_aligns_after_wide_ones() -> None:
    err = FilterError("bad \x1b[31m thing", 8, 1)
    assert err.render("proc 日本 \x1bx") == "bad ?[31m thing\n  proc 日本 ?x\n            ^"
    # A column past the end still gets one caret, right after the expression.
    assert FilterError("m", 99, 5).render("ab") == "m\n  ab\n    ^"


def test_error_column_is_relative_to_the_raw_expression() -> None:
    err = error("  tcp\tand\t(  port 99999 )")
    assert (err.column, err.length) == (18, 5)


# --- robustness -----------------------------------------------------------------------------------

ODD_RECORDS = [
    rec(local=None, remote=None, uid=None),
    rec(Proto.UNIX, local=UnixEndpoint(None), remote=UnixEndpoint(None), uid=None),
    rec(Proto.UNIX, local=None, remote=UnixEndpoint("@"), owners=own("", 0)),
    rec(Proto.TCP, local=UnixEndpoint("/odd"), remote=ep("10.0.0.1", 1)),  # inconsistent on purpose
    rec(local=ep("not an address", 80), remote=ep("", 0)),
    rec(local=ep("fe80::1%eth0", 546), family=Family.IPV6, uid=2**40),
    rec(state="", uid=-1),
    # Malformed beyond the type hints: a collector bug must hide the row, not crash the UI.
    rec(local=InetEndpoint(cast(Any, None), cast(Any, None)), owners=(Owner(1, 2, cast(Any, None)),)),
]

EXPRESSIONS = [
    "",
    "tcp",
    "listening or bound",
    "state time-wait",
    "port 443",
    "port != 1",
    "sport < 10",
    "dport != 22",
    "src 10.0.0.0/8",
    "dst ::1",
    "addr [::ffff:1.2.3.4]:80",
    "addr *:80",
    "addr localhost",
    "pid 1",
    "pid != 1",
    "proc x*",
    "proc != x",
    "user root",
    "user != 0",
    "path /run/*",
    "path != x",
    "fe80",
    "80",
    "*",
    "10.0.0.0/8",
    "not tcp",
]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_matches_never_raises_on_odd_records(expr: str) -> None:
    flt = parse(expr)
    for sock in [*ODD_RECORDS, *SAMPLES.values()]:
        assert isinstance(flt.matches(sock), bool)
        assert isinstance(flt.matches(sock, {}), bool)


def test_odd_records_do_not_match_tests_on_missing_fields() -> None:
    nothing = ODD_RECORDS[0]
    for expr in ["port 1", "port != 1", "dport != 22", "src 0.0.0.0/0", "src != 10.0.0.0/8", "pid != 1"]:
        assert not parse(expr).matches(nothing), expr
    assert not parse("user != root").matches(nothing)
    assert not parse("path != /x").matches(ODD_RECORDS[1])
    assert parse("not port 1").matches(nothing)


_PIECES = [
    "tcp", "and", "or", "not", "(", ")", "port", "sport", "state", "src", "user", "path", "proc", "pid",
    "=", "!=", "<", ">=", "!", "&&", "||", "&", "|", "'", '"', "\\", "[bold]", "[/bold]", "[", "]",
    "\x1b[31m", "\x00", "\n", "\t", "\x7f", "日本", "\u0301", "\ud800", "*", "?", "@", ":", "%", "/",
    "10.0.0.0/8", "[::1]:80", "::ffff:1.2.3.4", "99999999999999999999999", "-1", "established", "https",
]  # fmt: skip


def _assert_parse_is_safe(expr: str) -> None:
    try:
        flt = parse(expr)
    except FilterError as err:
        assert 0 <= err.column <= len(expr)
        assert err.length >= 1
        lines = err.render(expr).split("\n")
        assert len(lines) == 3
        assert lines[2].strip().startswith("^")
        assert all(c.isprintable() for line in lines for c in line)
        return
    for sock in [*ODD_RECORDS, *SAMPLES.values()]:
        assert isinstance(flt.matches(sock), bool)


@pytest.mark.parametrize(
    "expr",
    [
        "[bold]red[/bold]",
        "[link=http://x]x[/link]",
        "\x1b[2J\x1b[H",
        "proc \x00",
        "'\n'",
        "(" * 10_000,
        ")" * 10_000,
        "not " * 10_000 + "tcp",
        "tcp " * 10_000,
        "tcp or " * 5_000 + "udp",
        "port " + "9" * 5_000,
        "pid " + "9" * 5_000,
        "9" * 5_000,
        "\ud800",
        "state \u0661\u0662",  # Arabic-Indic digits: isdigit() but not ASCII
        "port \u0661\u0662",
    ],
)
def test_hostile_expressions_give_a_filter_or_a_filter_error(expr: str) -> None:
    _assert_parse_is_safe(expr)


def test_random_expressions_give_a_filter_or_a_filter_error() -> None:
    rng = random.Random(1234)
    for _ in range(3000):
        pieces = rng.choices(_PIECES, k=rng.randint(1, 8))
        expr = "".join(p + rng.choice(["", " "]) for p in pieces)
        _assert_parse_is_safe(expr)
    for _ in range(500):
        _assert_parse_is_safe("".join(chr(rng.randrange(0x110000)) for _ in range(rng.randint(1, 12))))


# --- the Filter object ----------------------------------------------------------------------------


def test_filter_is_a_frozen_value_keyed_by_its_source() -> None:
    flt = parse("tcp listening")
    assert flt == Filter("tcp listening")
    assert hash(flt) == hash(Filter("tcp listening"))
    assert flt != parse("tcp")
    assert flt.source == "tcp listening"
    assert not flt.is_empty
    with pytest.raises(dataclasses.FrozenInstanceError):
        flt.source = "udp"  # type: ignore[misc]
    with pytest.raises(FilterError):
        Filter("tcp and")


# --- forgiving forms: kw:arg, state words, inode, misspelt keywords ------------------------------


@pytest.mark.parametrize(
    ("expr", "same_as"),
    [
        ("port:443", "port 443"),
        ("sport:22", "sport 22"),
        ("PORT:https", "port 443"),
        ("proc:sshd", "proc sshd"),
        ("src:10.0.0.5", "src 10.0.0.5"),
        ("dst:93.184.216.34:443", "dst 93.184.216.34:443"),
        ("state:time-wait", "state time-wait"),
        ("established", "state established"),
        ("time-wait", "state time-wait"),
        ("TIME_WAIT", "state time-wait"),
        ("close-wait", "state close-wait"),
        ("listen", "listening"),
    ],
)
def test_shortcuts_mean_the_long_form(expr: str, same_as: str) -> None:
    assert matching(expr) == matching(same_as)
    assert matching(same_as), f"{same_as!r} should match some sample"


def test_keyword_colon_errors_point_into_the_argument() -> None:
    err = error("port:99999")
    assert err.message == "port '99999' is out of range (0-65535)"
    assert (err.column, err.length) == (5, 5)


def test_inode_matches_the_socket_or_its_peer() -> None:
    sock = SAMPLES["unix_client"]._replace(inode=212520, peer_inode=212521)
    assert parse("inode 212520").matches(sock)
    assert parse("inode 212521").matches(sock)
    assert parse("ino:212521").matches(sock)
    assert not parse("inode 212522").matches(sock)
    assert parse("inode > 212000").matches(sock)
    assert error("inode abc").message == "bad inode 'abc' (expected a number)"


@pytest.mark.parametrize(
    ("expr", "message", "column"),
    [
        ("prot 8765", "unknown keyword 'prot' (did you mean port?), searching text", 0),
        ("tcp and prot:8765", "unknown keyword 'prot' (did you mean port?), searching text", 8),
        ("procc nginx", "unknown keyword 'procc' (did you mean proc?), searching text", 0),
        ("proces nginx", "unknown keyword 'proces' (did you mean process?), searching text", 0),
    ],
)
def test_misspelt_keywords_warn_and_search(expr: str, message: str, column: int) -> None:
    flt = parse(expr)
    assert [(w.message, w.column) for w in flt.warnings] == [(message, column)]


def test_misspelt_keyword_before_a_comparison_is_an_error() -> None:
    err = error("sprot = 22")
    assert err.message == "unknown keyword 'sprot' (did you mean sport?)"
    assert (err.column, err.length) == (0, 5)


@pytest.mark.parametrize("expr", ["nginx", "nginx 443", "port 8765", "python3 tcp", "10.0.0.1:80", "abc:def"])
def test_no_warning_for_plain_searches(expr: str) -> None:
    assert parse(expr).warnings == ()


def test_netns_and_container_words() -> None:
    web = rec(owners=(Owner(10, 3, "nginx", "3f2a9c1b7d4e"),))._replace(netns=4026532247, netns_label="web-1")
    host = rec(owners=own("sshd", 1))._replace(netns=4026531840, netns_label="host")
    anon = rec()._replace(netns=4026532300, netns_label="net:[4026532300]")
    # A host-network container: the host's namespace, a container's cgroup.
    hostnet = rec(owners=(Owner(20, 4, "redis", "redis-cache"),))._replace(
        netns=4026531840, netns_label="host"
    )
    world = [web, host, anon, hostnet]

    def hits(expr: str) -> list[SocketRecord]:
        return [s for s in world if parse(expr).matches(s)]

    assert hits("netns web*") == [web]
    assert hits("netns WEB-1") == [web]  # any case
    assert hits("netns web") == []  # a glob, not a substring: web-1 is not web
    assert hits("netns 4026532300") == [anon]
    assert hits("netns host") == [host, hostnet]
    assert hits("netns net:[4026532300]") == [anon]  # brackets: not a glob class
    assert hits("netns 4026532247") == [web]
    assert hits("netns != host") == [web, anon]
    assert hits("ns:web-1") == [web]
    assert hits("container 3f2a*") == [web]
    assert hits("container redis-cache") == [hostnet]
    assert hits("container redis") == []
    assert hits("container web-1") == [web]  # the namespace's label counts for sockets no one holds
    assert hits("not container *") == [host]
