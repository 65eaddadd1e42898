"""Fuzzing the filter language: whatever is typed, a Filter or a FilterError whose caret is on the culprit.

The CLI (``--filter``), the filter bar (``/``) and the find bar (``ctrl+f``) catch :class:`FilterError`
and nothing else, so any other exception escaping ``parse`` would crash them. The caret drawn under the
error must point at the token at fault: inside the input, never on the blank before it, and past the
end only when what is wrong is that the input ended.

Expressions are built from the grammar's own pieces (keywords, flags, operators, quotes, ``kw:value``,
ports, CIDRs, globs) so that most of them get deep into the parser, plus raw unicode for the tokenizer.
Hypothesis runs derandomized so CI sees the same examples every time; examples it once found are kept
below as plain regression tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sockui.model.filter_parse import _FLAGS, _KEYWORDS, parse_tree
from sockui.model.filters import Filter, FilterError, compile_filter, parse
from sockui.model.services import parse_services
from sockui.model.socket import (
    Binding,
    Family,
    InetEndpoint,
    Owner,
    Proto,
    SocketRecord,
    SockType,
    UnixEndpoint,
)

#: Derandomized (CI sees the same examples every run), no example database (a failure found once is
#: kept below as a plain test instead), no deadline (a shared 2-core machine makes timings meaningless);
#: example counts keep the whole file to seconds.
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=1000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

SERVICES = parse_services("ssh 22/tcp\nhttps 443/tcp\ndomain 53/udp nameserver\n")

# --- records the parsed filters are matched against ---------------------------------------------------


def _rec(
    proto: Proto,
    family: Family,
    state: str,
    binding: Binding,
    local: InetEndpoint | UnixEndpoint | None,
    remote: InetEndpoint | UnixEndpoint | None,
    uid: int | None = 1000,
    owners: tuple[Owner, ...] = (),
    *,
    netns: int = 0,
    netns_label: str = "",
    peer_inode: int | None = None,
) -> SocketRecord:
    sock_type = {Proto.TCP: SockType.STREAM, Proto.UDP: SockType.DGRAM}.get(proto, SockType.STREAM)
    return SocketRecord(
        proto, family, sock_type, state, binding, local, remote, 7, uid, owners, peer_inode
    )._replace(netns=netns, netns_label=netns_label)


RECORDS = (
    _rec(
        Proto.TCP,
        Family.IPV4,
        "ESTABLISHED",
        Binding.CONNECTED,
        InetEndpoint("10.0.0.5", 51000),
        InetEndpoint("93.184.216.34", 443),
        owners=(Owner(4242, 3, "curl", "3f2a9c1b7d4e"),),
        netns=4026531840,
        netns_label="host",
        peer_inode=8,
    ),
    _rec(
        Proto.TCP,
        Family.IPV6,
        "LISTEN",
        Binding.LISTENING,
        InetEndpoint("::ffff:10.0.0.5", 22),
        None,
        uid=0,
        owners=(Owner(1, 4, "sshd"),),
        netns=4026532247,
        netns_label="web-1",
    ),
    _rec(Proto.UDP, Family.IPV6, "UNCONN", Binding.BOUND, InetEndpoint("fe80::1%eth0", 546), None, uid=None),
    _rec(
        Proto.UNIX,
        Family.UNIX,
        "ESTABLISHED",
        Binding.CONNECTED,
        UnixEndpoint("@abstract\udcff\n"),
        UnixEndpoint("/run/my app.sock"),
        owners=(Owner(600, 5, "my app"), Owner(601, 6, "")),
        netns_label="net:[4026532300]",
    ),
    _rec(Proto.RAW, Family.IPV4, "UNCONN", Binding.UNBOUND, None, None, uid=2**40),
    _rec(
        Proto.TCP, Family.IPV4, "TIME_WAIT", Binding.CONNECTED, InetEndpoint("", 0), InetEndpoint("x", 65535)
    ),
)
USERS: tuple[Mapping[int, str] | None, ...] = (None, {}, {0: "root", 1000: "alice", 2**40: "huge"})

# --- expressions built from the grammar's tokens ------------------------------------------------------

_HUGE = [str(10**30), "9" * 40, "-1", "-0", "65536", "99999", "0", "65535", "00000000443", "+22", "1e3"]
_PORTS = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(_HUGE + ["https", "ssh", "nameserver", ":22", ":", "*", "\u0661\u0662", "²"]),
)
_ADDRS = st.one_of(
    st.sampled_from(
        [
            "10.0.0.0/8",
            "10.0.0.0/999",
            "10.0.0.0/-1",
            "10.0.0.0/",
            "::1",
            "::/0",
            "::1/129",
            "fe80::1%eth0",
            "[::1]:80",
            "[::1]",
            "[::1]x",
            "[::1]:99999",
            "::ffff:1.2.3.4",
            "[::ffff:10.0.0.5]:*",
            "*:22",
            "*",
            "localhost",
            "LOCALHOST:https",
            "1.2.3.4:" + str(10**30),
            "1.2.3.4/" + "9" * 50,
            "300.1.1.1",
            "1.2.3",
            "0x7f.1",
        ]
    ),
    st.builds(
        lambda a, b, c, d, n: f"{a}.{b}.{c}.{d}/{n}",
        *[st.integers(-5, 300)] * 4,
        st.integers(-(10**20), 10**20),
    ),
)
_GLOBS = st.sampled_from(["x*", "*", "?", "[", "[!n]ginx", "[]", "[a-", "**/*", "py*thon", "/run/*", "a]b"])
_STATES = st.sampled_from(["established", "time-wait", "TIME_WAIT", "close_wait", "listen", "syn-received"])
_WORDS = st.one_of(
    st.sampled_from(sorted(_KEYWORDS)),
    st.sampled_from(sorted(_FLAGS)),
    st.sampled_from(["and", "or", "not", "AND", "Or", "NOT", "&&", "||", "!", "&", "|"]),
    st.sampled_from(["(", ")", "((", "))", "()"]),
    st.sampled_from(["=", "==", "!=", "<", ">", "<=", ">=", "=>", "=<", "!==", "<>", "=!"]),
    st.sampled_from(["prot", "sprot", "procc", "stat", "adr", "nginx", "sshd", "root", "host", "web*"]),
    _STATES,
    _PORTS,
    _ADDRS,
    _GLOBS,
)


@st.composite
def _quoted(draw: st.DrawFn) -> str:
    """A quoted word, sometimes left open, empty, or holding escapes and the other quote."""
    quote = draw(st.sampled_from(["'", '"']))
    body = draw(st.text(st.sampled_from(list("ab *?[]/\\'\"()=:\t日\u0301")), max_size=8))
    closing = draw(st.sampled_from([quote, quote, quote, ""]))
    return quote + body + closing


@st.composite
def _colon_word(draw: st.DrawFn) -> str:
    """``keyword:value``, with every kind of value (or none) after the colon."""
    keyword = draw(st.sampled_from(sorted(_KEYWORDS) + ["PORT", "Proc", "prot"]))
    value = draw(st.one_of(_PORTS, _ADDRS, _GLOBS, _STATES, st.just(""), st.just(":")))
    return f"{keyword}:{value}"


_PIECE = st.one_of(_WORDS, _WORDS, _WORDS, _quoted(), _colon_word(), st.text(max_size=3))
_BLANK = st.sampled_from(["", " ", " ", " ", "  ", "\t", "\n", "\u3000", "\x1c"])


@st.composite
def expressions(draw: st.DrawFn) -> str:
    """A sequence of grammar pieces with random blanks (or none) between and around them."""
    pieces = draw(st.lists(_PIECE, min_size=0, max_size=10))
    out = [draw(_BLANK)]
    for piece in pieces:
        out += [piece, draw(_BLANK)]
    return "".join(out)


# --- the properties -------------------------------------------------------------------------------

#: Messages about input that stopped too early: their caret may sit just past the last character.
_END_MESSAGES = ("expected ", "unexpected end of filter")


_DID_YOU_MEAN = re.compile(r"unknown keyword '(.*)' \(did you mean (\w+)\?\)")


def check_message(message: str) -> None:
    """A keyword is never called unknown, nor offered as its own correction ("port (did you mean port?)")."""
    found = _DID_YOU_MEAN.match(message)
    if found is not None:
        word, guess = found.groups()
        assert word.lower() not in _KEYWORDS, message
        assert word.lower() != guess, message


def check_error(expr: str, err: FilterError) -> None:
    """The caret is inside the input on a non-blank character, or just past it for an early end."""
    check_message(err.message)
    col, length, n = err.column, err.length, len(expr)
    assert length >= 1
    if col >= n:
        assert col == n, f"caret at {col}, past the end of {expr!r}"
        assert err.message.startswith(_END_MESSAGES), f"{err.message!r} points past the end of {expr!r}"
    elif err.message.startswith("unexpected control character"):
        # A tab or newline inside quotes is refused, and is then itself what the caret points at.
        assert err.message == f"unexpected control character (U+{ord(expr[col]):04X})"
        assert length == 1
    else:
        assert not expr[col].isspace(), f"{err.message!r}: caret on the blank at {col} of {expr!r}"
        assert col + length <= n, f"{err.message!r}: carets run past the end of {expr!r}"
        assert not expr[col + length - 1].isspace(), f"{err.message!r}: carets end on a blank in {expr!r}"
    lines = err.render(expr).split("\n")
    assert len(lines) == 3
    assert lines[2].strip().startswith("^")
    assert all(c.isprintable() for line in lines for c in line)


def check_expression(expr: str) -> None:
    """``parse`` gives a Filter or a well-placed FilterError; a Filter matches every record quietly."""
    try:
        flt = parse(expr, SERVICES)
    except FilterError as err:
        check_error(expr, err)
        return
    assert isinstance(flt, Filter)
    for warning in flt.warnings:
        assert 0 <= warning.column < len(expr) and not expr[warning.column].isspace()
        check_message(warning.message)
    # The compiled predicate itself, not only matches(): matches() swallows a few exception types to
    # survive malformed records, which would hide a predicate that fails on well-formed ones.
    predicate = compile_filter(parse_tree(expr), SERVICES)
    for sock in RECORDS:
        for users in USERS:
            assert isinstance(flt.matches(sock, users), bool)
            assert isinstance(predicate(sock, users), bool)


@FUZZ
@given(expressions())
def test_grammar_built_expressions_parse_or_point_at_the_problem(expr: str) -> None:
    check_expression(expr)


#: Any code point, lone surrogates included: a terminal or a pasted file can hand those over.
_ANY_CHAR = st.characters(exclude_categories=())


@settings(FUZZ, max_examples=600)
@given(st.text(_ANY_CHAR, max_size=24))
def test_random_unicode_parses_or_points_at_the_problem(expr: str) -> None:
    check_expression(expr)


@settings(FUZZ, max_examples=400)
@given(st.lists(st.one_of(_PIECE, st.text(_ANY_CHAR, min_size=1, max_size=4)), max_size=8), _BLANK)
def test_grammar_pieces_mixed_with_any_characters(pieces: list[str], blank: str) -> None:
    check_expression(blank.join(pieces))


_MISSING_ARG_AT = st.sampled_from(["(", ")", "and", "or", "not", "&&", "||", "!", "=", "<=", "!="])


@settings(FUZZ, max_examples=400)
@given(
    st.sampled_from(sorted(_KEYWORDS)),
    st.sampled_from(["", "=", "!=", "<", ">=", "=="]),
    _MISSING_ARG_AT,
    st.sampled_from(["", " ", "  ", "\t"]),
    st.sampled_from(["", " ", "   "]),
    st.sampled_from(["", " tcp", " udp)"]),
)
def test_missing_argument_caret_is_on_the_token_found_instead(
    keyword: str, op: str, found: str, gap1: str, gap2: str, tail: str
) -> None:
    """``port = (``: the caret is under '(', what stands where the port should be, not the blank before."""
    # With no operator, one found where the argument should be is the keyword's operator instead.
    assume(op or found not in ("=", "<=", "!="))
    if op:
        # "port==" + "=" would lex as "port" "==" "=": keep operators apart from their neighbours.
        gap1 = gap1 or " "
        gap2 = gap2 or (" " if found[0] in "=<>!" else "")
    head = f"{keyword}{gap1}{op}{gap2}" if op else f"{keyword}{gap2 or ' '}"
    expr = head + found + tail
    with pytest.raises(FilterError) as info:
        parse(expr)
    err = info.value
    check_error(expr, err)
    if op and op not in ("==", "!=", "=") and _KEYWORDS[keyword][0] not in ("port", "pid", "inode"):
        return  # "state < (": the comparison itself is the first thing wrong
    assert err.column == len(head), f"{expr!r}: {err.message!r} at {err.column}"
    assert err.message.startswith("expected ")


@settings(FUZZ, max_examples=300)
@given(st.sampled_from(sorted(_KEYWORDS)), st.sampled_from(["", ":", " =", " !=", " >=", ":<"]), _BLANK)
def test_missing_argument_at_the_end_points_just_past_the_input(keyword: str, op: str, blank: str) -> None:
    """Nothing left to point at: the caret goes right after the input, trailing blanks included."""
    expr = keyword + op + blank
    with pytest.raises(FilterError) as info:
        parse(expr)
    err = info.value
    check_error(expr, err)
    assert err.message.startswith("expected "), err.message
    assert err.column == len(expr)


# --- examples the fuzzing found, kept as plain regression tests ------------------------------------


@pytest.mark.parametrize(
    ("expr", "column", "length"),
    [
        ("port = (", 7, 1),  # was 6: the blank before '('
        ("tcp port and udp", 9, 3),  # was 8: the blank before 'and'
        ("proc  )", 6, 1),
        ("state\t\tor", 7, 2),
        ("sport >= \u3000!", 10, 1),
        ("port", 4, 1),
        ("port   ", 7, 1),
    ],
)
def test_found_examples_caret_positions(expr: str, column: int, length: int) -> None:
    with pytest.raises(FilterError) as info:
        parse(expr)
    check_error(expr, info.value)
    assert (info.value.column, info.value.length) == (column, length)


@pytest.mark.parametrize(
    ("expr", "same_as"),
    [
        ("addr: bound", "addr bound"),  # found: "unknown keyword 'addr' (did you mean addr?)", a search
        ("port: 443", "port 443"),
        ("proc:'my app'", "proc 'my app'"),
        ("PROC: curl", "proc curl"),
        ("port:=443", "port = 443"),
        ("sport:>= 1024", "sport >= 1024"),
    ],
)
def test_found_examples_keyword_colon_then_argument(expr: str, same_as: str) -> None:
    """``kw:`` with its argument after a blank, a quote or an operator is the keyword, not a search."""
    try:
        expected: list[bool] | str = [parse(same_as, SERVICES).matches(sock) for sock in RECORDS]
    except FilterError as err:
        expected = err.message
    try:
        flt = parse(expr, SERVICES)
    except FilterError as err:
        assert err.message == expected
        check_error(expr, err)
        return
    assert flt.warnings == ()
    assert [flt.matches(sock) for sock in RECORDS] == expected


@pytest.mark.parametrize("expr", ["addr:=", "port:", "tcp and proc:", "(state:)"])
def test_found_examples_keyword_colon_without_argument(expr: str) -> None:
    with pytest.raises(FilterError) as info:
        parse(expr)
    assert info.value.message.startswith("expected ")
    check_error(expr, info.value)
