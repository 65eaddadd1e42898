"""Plain-text formatting: hostile strings made visible, endpoints and the owner cells."""

from __future__ import annotations

import re

import pytest

from sockui.model.format import endpoint, fd_column, owner, process_column, safe, user_column
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

# Anything a terminal would act on or hide: C0, DEL, C1, line/paragraph separators, bidi controls,
# zero-width characters, BOM and surrogates. Used to check that no such character survives.
DANGEROUS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff\ud800-\udfff]"
)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J\x1b]52;c;AAAA\x07", "\\e[2J\\e]52;c;AAAA\\x07"),  # clear screen, OSC 52, BEL
        ("line1\nline2", "line1\\nline2"),
        ("a\rb", "a\\rb"),
        ("col\tumn", "col\\tumn"),
        ("nul\x00", "nul\\x00"),
        ("del\x7f", "del\\x7f"),
        ("c1\x9b31m", "c1\\x9b31m"),  # CSI as a single C1 byte
        ("nel\x85", "nel\\x85"),
        ("evil\u202etxt.exe", "evil\\u202etxt.exe"),  # right-to-left override
        ("iso\u2066late\u2069", "iso\\u2066late\\u2069"),
        ("zero\u200bwidth\u200cnon\u200djoiner", "zero\\u200bwidth\\u200cnon\\u200djoiner"),
        ("\ufeffbom", "\\ufeffbom"),
        ("sep\u2028arator\u2029", "sep\\u2028arator\\u2029"),
        ("caf\udce9", "caf\\xe9"),  # a byte that was not UTF-8, carried by surrogateescape
        ("\udcff\udc80", "\\xff\\x80"),
        ("\ud800high", "\\ud800high"),  # a surrogate that surrogateescape never makes
        ("back\\slash", "back\\\\slash"),
        ("\\e", "\\\\e"),  # a literal backslash-e is not confused with ESC
    ],
)
def test_safe_escapes(text: str, shown: str) -> None:
    assert safe(text) == shown
    assert DANGEROUS.search(safe(text)) is None


@pytest.mark.parametrize(
    "text",
    [
        "nginx",
        "",
        "/run/my app.sock",
        "@dbus-abstract",
        "ünïcødé ÿ",
        "日本語",
        "emoji 🙂",
        "[bold]markup[/]",
        "a;b/c",
    ],
)
def test_plain_text_unchanged(text: str) -> None:
    assert safe(text) == text


def test_escapes_are_unambiguous() -> None:
    hostile = ["\x1b", "\\e", "\udcff", "\\xff", "ÿ", "\n", "\\n", "\u202e", "\\u202e", "\\"]
    shown = [safe(t) for t in hostile]
    assert len(set(shown)) == len(hostile)


def test_every_control_character_escaped() -> None:
    for code in [*range(0x00, 0x20), *range(0x7F, 0xA0)]:
        out = safe(chr(code))
        assert out.startswith("\\") and out.isprintable(), hex(code)


# Characters that are invisible or reorder text, beyond the ones listed above. Bidi_Control is the
# Unicode property listing every bidi formatting character (U+061C ARABIC LETTER MARK among them,
# next to LRM and RLM); U+2060 WORD JOINER is a zero-width character like U+200B and U+FEFF; the tag
# characters U+E0000..U+E007F render as nothing and are used to smuggle hidden text.
@pytest.mark.parametrize(
    "char",
    [
        "\u061c",  # ARABIC LETTER MARK (Bidi_Control)
        "\u200e",  # LEFT-TO-RIGHT MARK
        "\u200f",  # RIGHT-TO-LEFT MARK
        *[chr(c) for c in range(0x202A, 0x202F)],
        *[chr(c) for c in range(0x2066, 0x206A)],
    ],
    ids=lambda c: f"U+{ord(c):04X}",
)
def test_every_bidi_control_escaped(char: str) -> None:
    assert char not in safe(f"a{char}b")


@pytest.mark.parametrize(
    "char",
    ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"],
    ids=lambda c: f"U+{ord(c):04X}",
)
def test_zero_width_characters_escaped(char: str) -> None:
    assert char not in safe(f"a{char}b")


@pytest.mark.parametrize("char", ["\U000e0001", "\U000e0041", "\U000e007f"], ids=lambda c: f"U+{ord(c):05X}")
def test_invisible_tag_characters_escaped(char: str) -> None:
    assert char not in safe(f"nginx{char}")


# --- endpoint -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ep", "text"),
    [
        (InetEndpoint("127.0.0.1", 80), "127.0.0.1:80"),
        (InetEndpoint("0.0.0.0", 0), "0.0.0.0:0"),
        (InetEndpoint("::1", 443), "[::1]:443"),
        (InetEndpoint("::", 22), "[::]:22"),
        (InetEndpoint("2001:db8::5", 8443), "[2001:db8::5]:8443"),
        (InetEndpoint("::ffff:10.0.0.1", 5), "[::ffff:10.0.0.1]:5"),
        (UnixEndpoint("/run/x.sock"), "/run/x.sock"),
        (UnixEndpoint("/tmp/a\nb\x1b"), "/tmp/a\\nb\\e"),
        (UnixEndpoint("@abstract"), "@abstract"),
        (UnixEndpoint("@\udcff"), "@\\xff"),
        (UnixEndpoint(None), "*"),
        (None, ""),
    ],
)
def test_endpoint(ep: InetEndpoint | UnixEndpoint | None, text: str) -> None:
    assert endpoint(ep) == text


# --- owner cells ----------------------------------------------------------------------------------------


def rec(owners: tuple[Owner, ...] = (), uid: int | None = 1000) -> SocketRecord:
    return SocketRecord(
        proto=Proto.TCP,
        family=Family.IPV4,
        type=SockType.STREAM,
        state="ESTABLISHED",
        binding=Binding.CONNECTED,
        local=InetEndpoint("127.0.0.1", 1),
        remote=InetEndpoint("127.0.0.1", 2),
        inode=1,
        uid=uid,
        owners=owners,
    )


def test_owner() -> None:
    assert owner(Owner(1234, 7, "nginx")) == "1234/nginx"
    assert owner(Owner(1, 0, "x\ny")) == "1/x\\ny"


def test_process_column() -> None:
    assert process_column(rec()) == ""
    assert process_column(rec((Owner(100, 3, "nginx"),))) == "100 nginx"
    # Two fds of one process: still one process.
    assert process_column(rec((Owner(100, 3, "nginx"), Owner(100, 9, "nginx")))) == "100 nginx"
    three = (Owner(100, 3, "nginx"), Owner(101, 3, "nginx"), Owner(102, 4, "worker"))
    assert process_column(rec(three)) == "100 nginx +2"
    assert process_column(rec((Owner(5, 1, "\x1b[31mred"),))) == "5 \\e[31mred"


def test_fd_column() -> None:
    assert fd_column(rec()) == ""
    owners = (Owner(100, 3, "a"), Owner(100, 12, "a"), Owner(200, 4, "b"))
    assert fd_column(rec(owners)) == "3,12"


def test_user_column() -> None:
    users = {0: "root", 1000: "al\nice"}
    assert user_column(rec(uid=None), users) == ""
    assert user_column(rec(uid=0), users) == "root"
    assert user_column(rec(uid=1000), users) == "al\\nice"
    assert user_column(rec(uid=4242), users) == "4242"
