"""The copy menu's texts on hand-made records: exact text of every item, and hostile names made harmless.

The commands themselves are run against real sockets in tests/collect/test_copy_commands.py; here the
exact strings are pinned so a change to them is a visible decision.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from sockui.model.copytext import COPY_KEYS, CopyItem, copy_items, quick_text
from sockui.model.export import record_json
from sockui.model.process import ProcessInfo
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

#: Characters that must never be in a copied text (newline aside, which separates the lines of ``p``).
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


_STATE = {
    Binding.LISTENING: "LISTEN",
    Binding.CONNECTED: "ESTABLISHED",
    Binding.BOUND: "UNCONN",
    Binding.UNBOUND: "UNCONN",
}
_KIND = {Proto.TCP: SockType.STREAM, Proto.UDP: SockType.DGRAM, Proto.RAW: SockType.RAW}


def inet(
    proto: Proto,
    local: tuple[str, int] | None,
    remote: tuple[str, int] | None = None,
    *,
    binding: Binding | None = None,
    state: str | None = None,
    owners: tuple[Owner, ...] = (),
) -> SocketRecord:
    """A TCP/UDP/RAW record; family from the local address, binding and state from the ends."""
    if binding is None:
        binding = Binding.CONNECTED if remote else Binding.LISTENING if proto is Proto.TCP else Binding.BOUND
    return SocketRecord(
        proto=proto,
        family=Family.IPV6 if local and ":" in local[0] else Family.IPV4,
        type=_KIND[proto],
        state=state or _STATE[binding],
        binding=binding,
        local=InetEndpoint(*local) if local else None,
        remote=InetEndpoint(*remote) if remote else None,
        inode=4242,
        uid=0,
        owners=owners,
    )


def unix(
    path: str | None,
    binding: Binding,
    *,
    remote: str | None | bool = False,
    kind: SockType = SockType.STREAM,
    inode: int = 4242,
    peer_inode: int | None = None,
    owners: tuple[Owner, ...] = (),
) -> SocketRecord:
    """A UNIX record; ``remote`` False: no remote end, None: an unnamed peer, else the peer's name."""
    return SocketRecord(
        proto=Proto.UNIX,
        family=Family.UNIX,
        type=kind,
        state=_STATE[binding],
        binding=binding,
        local=UnixEndpoint(path),
        remote=None if remote is False else UnixEndpoint(remote if isinstance(remote, str) else None),
        inode=inode,
        uid=0,
        owners=owners,
        peer_inode=peer_inode,
    )


def texts(sock: SocketRecord, processes: tuple[ProcessInfo, ...] = ()) -> dict[str, str | None]:
    items = copy_items(sock, processes)
    assert [i.key for i in items] == list(COPY_KEYS)
    for item in items:
        assert (item.text is None) != (item.why_not is None), item
        assert item.label
    return {i.key: i.text for i in items}


def why(sock: SocketRecord, key: str) -> str:
    item = next(i for i in copy_items(sock) if i.key == key)
    assert item.text is None and item.why_not is not None
    return item.why_not


def as_json(sock: SocketRecord) -> str:
    return json.dumps(record_json(sock), separators=(",", ":"))


NGINX = Owner(1234, 7, "nginx")
NGINX_INFO = ProcessInfo(1234, False, "nginx", ("nginx: master process /usr/sbin/nginx",))

TCP4 = inet(Proto.TCP, ("127.0.0.1", 5000), ("127.0.0.1", 80), owners=(NGINX,))
TCP6 = inet(Proto.TCP, ("::1", 5000), ("::1", 80))
LISTENER = inet(Proto.TCP, ("127.0.0.1", 8080))
WILD6 = inet(Proto.TCP, ("::", 80))
UDP_BOUND = inet(Proto.UDP, ("0.0.0.0", 5353))
UDP_CONNECTED = inet(Proto.UDP, ("10.0.0.2", 40000), ("10.0.0.53", 53))
UNIX_LISTENER = unix("/run/x.sock", Binding.LISTENING, inode=12)
UNIX_CLIENT = unix(None, Binding.CONNECTED, remote="/run/x.sock", inode=11, peer_inode=13)
UNIX_ACCEPTED = unix("/run/x.sock", Binding.CONNECTED, remote=None, inode=13, peer_inode=11)
ABSTRACT = unix("@sockui-bus", Binding.BOUND, kind=SockType.DGRAM, inode=21)
UNNAMED = unix(None, Binding.UNBOUND, kind=SockType.DGRAM, inode=31)


def test_tcp_v4_connection() -> None:
    assert texts(TCP4, (NGINX_INFO,)) == {
        "l": "127.0.0.1:5000",
        "r": "127.0.0.1:80",
        "t": "tcp 127.0.0.1:5000 -> 127.0.0.1:80",
        "s": "ss -tan 'src 127.0.0.1:5000 and dst 127.0.0.1:80'",
        "k": "ss -K -tan 'src 127.0.0.1:5000 and dst 127.0.0.1:80'",
        "d": "tcp and ((src host 127.0.0.1 and src port 5000 and dst host 127.0.0.1 and dst port 80)"
        " or (src host 127.0.0.1 and src port 80 and dst host 127.0.0.1 and dst port 5000))",
        "j": as_json(TCP4),
        "p": "1234 nginx: master process /usr/sbin/nginx",
    }
    assert quick_text(TCP4) == "tcp 127.0.0.1:5000 -> 127.0.0.1:80"


def test_tcp_v6_connection() -> None:
    assert texts(TCP6) == {
        "l": "[::1]:5000",
        "r": "[::1]:80",
        "t": "tcp6 [::1]:5000 -> [::1]:80",
        "s": "ss -tan 'src [::1]:5000 and dst [::1]:80'",
        "k": "ss -K -tan 'src [::1]:5000 and dst [::1]:80'",
        "d": "ip6 and tcp and ((src host ::1 and src port 5000 and dst host ::1 and dst port 80)"
        " or (src host ::1 and src port 80 and dst host ::1 and dst port 5000))",
        "j": as_json(TCP6),
        "p": None,
    }
    assert why(TCP6, "p").startswith("no owner is visible")
    # No inode: no file any process could hold; said as such, not as hidden.
    closing = TCP6._replace(inode=0, state="TIME_WAIT")
    assert why(closing, "p") == (
        "no process holds it: its process closed it and the kernel is finishing the close (TIME_WAIT)"
    )
    assert quick_text(TCP6) == "tcp6 [::1]:5000 -> [::1]:80"


def test_tcp_listener() -> None:
    assert texts(LISTENER) == {
        "l": "127.0.0.1:8080",
        "r": None,
        "t": "tcp 127.0.0.1:8080 (listening)",
        "s": "ss -tln 'src 127.0.0.1:8080'",
        "k": "ss -K -tln 'src 127.0.0.1:8080'",
        "d": "tcp and ((dst host 127.0.0.1 and dst port 8080) or (src host 127.0.0.1 and src port 8080))",
        "j": as_json(LISTENER),
        "p": None,
    }
    assert why(LISTENER, "r") == "the socket has no remote end (listening)"
    assert quick_text(LISTENER) == "127.0.0.1:8080"


def test_wildcard_listeners_leave_the_host_out() -> None:
    wild4 = inet(Proto.TCP, ("0.0.0.0", 80))
    assert texts(wild4)["d"] == "ip and tcp and (dst port 80 or src port 80)"
    assert texts(wild4)["s"] == "ss -tln 'src 0.0.0.0:80'"
    # An IPv6 wildcard socket may be dual-stack: no family word, so IPv4 clients are seen too.
    assert texts(WILD6)["d"] == "tcp and (dst port 80 or src port 80)"
    assert texts(WILD6)["s"] == "ss -tln 'src [::]:80'"
    assert texts(WILD6)["t"] == "tcp6 [::]:80 (listening)"


def test_udp_bound() -> None:
    assert texts(UDP_BOUND) == {
        "l": "0.0.0.0:5353",
        "r": None,
        "t": "udp 0.0.0.0:5353 (bound)",
        "s": "ss -uln 'src 0.0.0.0:5353'",
        "k": "ss -K -uln 'src 0.0.0.0:5353'",
        "d": "ip and udp and (dst port 5353 or src port 5353)",
        "j": as_json(UDP_BOUND),
        "p": None,
    }
    assert why(UDP_BOUND, "r") == "the socket has no remote end (bound)"
    assert quick_text(UDP_BOUND) == "0.0.0.0:5353"


def test_udp_connected() -> None:
    assert texts(UDP_CONNECTED) == {
        "l": "10.0.0.2:40000",
        "r": "10.0.0.53:53",
        "t": "udp 10.0.0.2:40000 -> 10.0.0.53:53",
        "s": "ss -uan 'src 10.0.0.2:40000 and dst 10.0.0.53:53'",
        "k": "ss -K -uan 'src 10.0.0.2:40000 and dst 10.0.0.53:53'",
        "d": "udp and ((src host 10.0.0.2 and src port 40000 and dst host 10.0.0.53 and dst port 53)"
        " or (src host 10.0.0.53 and src port 53 and dst host 10.0.0.2 and dst port 40000))",
        "j": as_json(UDP_CONNECTED),
        "p": None,
    }
    assert quick_text(UDP_CONNECTED) == "udp 10.0.0.2:40000 -> 10.0.0.53:53"


def test_ipv4_mapped_addresses_are_ipv4_on_the_wire() -> None:
    mapped = inet(Proto.TCP, ("::ffff:127.0.0.1", 80), ("::ffff:127.0.0.1", 40000))
    items = texts(mapped)
    assert items["t"] == "tcp6 [::ffff:127.0.0.1]:80 -> [::ffff:127.0.0.1]:40000"
    assert items["s"] == "ss -tan 'src [::ffff:127.0.0.1]:80 and dst [::ffff:127.0.0.1]:40000'"
    assert items["d"] == (
        "tcp and ((src host 127.0.0.1 and src port 80 and dst host 127.0.0.1 and dst port 40000)"
        " or (src host 127.0.0.1 and src port 40000 and dst host 127.0.0.1 and dst port 80))"
    )


def test_raw_socket() -> None:
    raw = inet(Proto.RAW, ("127.0.0.1", 1))
    items = texts(raw)
    assert items["t"] == "raw 127.0.0.1:1 (bound)"
    assert items["s"] == "ss -wln 'src 127.0.0.1:1'"
    assert items["k"] is None and "raw" in why(raw, "k")
    assert items["d"] == "ip proto 1 and host 127.0.0.1"
    raw6 = inet(Proto.RAW, ("::", 58))
    assert texts(raw6)["d"] == "ip6 proto 58"


def test_unbound_and_bound_inactive_tcp() -> None:
    unbound = inet(Proto.TCP, None, binding=Binding.UNBOUND)
    items = texts(unbound)
    assert {k: v for k, v in items.items() if k != "j"} == dict.fromkeys("lrtskdp")
    assert why(unbound, "l") == "the socket has no address (unbound)"
    assert quick_text(unbound) is None
    inactive = inet(Proto.TCP, ("127.0.0.1", 9000), binding=Binding.BOUND, state="BOUND_INACTIVE")
    assert texts(inactive)["t"] == "tcp 127.0.0.1:9000 (bound)"
    assert why(inactive, "s") == "ss does not list TCP sockets that are bound but inactive"


def test_unix_listener_with_a_path() -> None:
    assert texts(UNIX_LISTENER) == {
        "l": "/run/x.sock",
        "r": None,
        "t": "unix/str /run/x.sock 12 (listening)",
        "s": "ss -xln 'src /run/x.sock'",
        "k": None,
        "d": None,
        "j": as_json(UNIX_LISTENER),
        "p": None,
    }
    assert why(UNIX_LISTENER, "k") == "the kernel cannot close UNIX sockets (SOCK_DESTROY)"
    assert why(UNIX_LISTENER, "d") == "UNIX sockets carry no network traffic for tcpdump to see"
    assert quick_text(UNIX_LISTENER) == "/run/x.sock"


def test_unix_connection_ends() -> None:
    client = texts(UNIX_CLIENT)
    assert client["l"] is None and why(UNIX_CLIENT, "l") == "the socket has no name"
    assert client["r"] == "/run/x.sock"
    assert client["t"] == "unix/str * 11 -> /run/x.sock 13"
    assert client["s"] is None and "unnamed" in why(UNIX_CLIENT, "s")
    assert quick_text(UNIX_CLIENT) == "unix/str * 11 -> /run/x.sock 13"
    server = texts(UNIX_ACCEPTED)
    assert server["l"] == "/run/x.sock"
    assert server["r"] is None and why(UNIX_ACCEPTED, "r") == "the other end has no name (inode 11)"
    assert server["t"] == "unix/str /run/x.sock 13 -> * 11"
    # Every connection accepted on /run/x.sock has that name: ss cannot pick this one.
    assert server["s"] is None and "same name" in why(UNIX_ACCEPTED, "s")


def test_unix_abstract_name() -> None:
    assert texts(ABSTRACT) == {
        "l": "@sockui-bus",
        "r": None,
        "t": "unix/dgr @sockui-bus 21 (bound)",
        "s": "ss -xln 'src @sockui-bus'",
        "k": None,
        "d": None,
        "j": as_json(ABSTRACT),
        "p": None,
    }


def test_unix_unnamed() -> None:
    assert texts(UNNAMED) == {
        "l": None,
        "r": None,
        "t": "unix/dgr * 31 (unbound)",
        "s": None,
        "k": None,
        "d": None,
        "j": as_json(UNNAMED),
        "p": None,
    }
    assert why(UNNAMED, "s") == "ss cannot select an unnamed UNIX socket (it filters on names, not inodes)"
    assert quick_text(UNNAMED) is None


@pytest.mark.parametrize(
    ("path", "token"),
    [
        ("/run/a b.sock", r"/run/a\ b.sock"),  # ss splits its filter on blanks
        ("/run/*?[x].sock", r"/run/\\*\\?\\[x].sock"),  # fnmatch specials, escaped for fnmatch then ss
        ("/run/back\\slash", r"/run/back\\\\slash"),
        ("/tmp/h\n\x1b[2J.sock", r"/tmp/h*\\[2J.sock"),  # control characters: a '*', never raw
        ("/tmp/\udcff\udcfe.sock", "/tmp/*.sock"),  # undecodable bytes
        ("and", r"\\and"),  # relative name spelled like an operator
        ("inet:x", r"\\inet:x"),  # ... or like a family prefix
    ],
)
def test_ss_unix_names_are_escaped_for_fnmatch_and_the_ss_lexer(path: str, token: str) -> None:
    sock = unix(path, Binding.LISTENING)
    assert texts(sock)["s"] == f"ss -xln 'src {token}'"


HOSTILE_NAME = "\x1b[31m\n[@click=app.quit]x"
HOSTILE_PATH = "/tmp/h\n\x1b]0;pwn\x07[@click=app.quit]\u202e.sock"


def test_hostile_names_and_paths_come_out_escaped() -> None:
    owner = Owner(66, 3, HOSTILE_NAME)
    sock = unix(HOSTILE_PATH, Binding.LISTENING, owners=(owner, Owner(67, 4, "[bold]two")))
    info = ProcessInfo(66, False, HOSTILE_NAME, ("srv", "--name", "\x1b[2J\nrm -rf /", "[/bold]"))
    items = texts(sock, (info,))
    shown_path = r"/tmp/h\n\e]0;pwn\x07[@click=app.quit]\u202e.sock"
    assert items["l"] == shown_path
    assert items["t"] == f"unix/str {shown_path} 4242 (listening)"
    assert items["s"] == r"ss -xln 'src /tmp/h*]0;pwn*\\[@click=app.quit]*.sock'"
    # One line per process; the second has no ProcessInfo and falls back to its name.
    assert items["p"] == "66 srv --name \\e[2J\\nrm -rf / [/bold]\n67 [bold]two"
    assert quick_text(sock) == shown_path
    for key, text in items.items():
        if text is not None:
            assert not CONTROL.search(text), (key, text)
    assert items["j"] is not None
    assert json.loads(items["j"]) == record_json(sock)  # exact in JSON, escaped in its text
    assert items["j"].isascii()


def test_process_line_falls_back_to_the_name_without_a_cmdline() -> None:
    owners = (Owner(2, 5, "kthreadd"), Owner(2, 6, "kthreadd"), Owner(9, 1, "x\ty"))
    sock = inet(Proto.TCP, ("0.0.0.0", 1), owners=owners)
    kernel_thread = ProcessInfo(2, False, "kthreadd", ())
    assert texts(sock, (kernel_thread,))["p"] == "2 kthreadd\n9 x\\ty"


def test_json_item_is_one_compact_escaped_object() -> None:
    sock = unix("/tmp/\x1b[2J\udcff名", Binding.LISTENING, owners=(Owner(1, 2, "n\nm"),))
    text = texts(sock)["j"]
    assert text is not None and "\n" not in text and text.isascii() and ": " not in text
    assert json.loads(text) == record_json(sock)


def test_copy_item_is_frozen() -> None:
    item = copy_items(TCP4)[0]
    assert isinstance(item, CopyItem)
    with pytest.raises(AttributeError):
        item.text = "x"  # type: ignore[misc]


def test_copytext_does_not_import_the_ui_stack() -> None:
    code = (
        "import sys, sockui.model.copytext; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
