"""Kernel numbers sockui interprets, in one place: socket families and types, IP protocols, TCP states.

Both the collectors (which put them in requests and read them from replies) and the model (which turns
them into binding states) use these; nothing else defines its own copy. Netlink message framing
constants stay in ``collect/netlink.py``, the only module that frames messages. Values are from the
kernel's uapi headers (``include/net/tcp_states.h``, ``linux/socket.h``, ``linux/in.h``); see
docs/sock_diag.md.
"""

from __future__ import annotations

from typing import Final

# Address families (linux/socket.h).
AF_UNIX: Final = 1
AF_INET: Final = 2
AF_INET6: Final = 10

# Socket types (linux/net.h).
SOCK_STREAM: Final = 1
SOCK_DGRAM: Final = 2
SOCK_RAW: Final = 3
SOCK_SEQPACKET: Final = 5

# IP protocols (linux/in.h). For inet_diag dumps, RAW means "every raw socket of the family".
IPPROTO_TCP: Final = 6
IPPROTO_UDP: Final = 17
IPPROTO_RAW: Final = 255

# TCP states (include/net/tcp_states.h). UDP and UNIX sockets reuse ESTABLISHED, CLOSE and LISTEN.
TCP_ESTABLISHED: Final = 1
TCP_SYN_SENT: Final = 2
TCP_SYN_RECV: Final = 3
TCP_FIN_WAIT1: Final = 4
TCP_FIN_WAIT2: Final = 5
TCP_TIME_WAIT: Final = 6
TCP_CLOSE: Final = 7
TCP_CLOSE_WAIT: Final = 8
TCP_LAST_ACK: Final = 9
TCP_LISTEN: Final = 10
TCP_CLOSING: Final = 11
#: Request sockets; only selects entries in a request, never reported back.
TCP_NEW_SYN_RECV: Final = 12
#: Bound but inactive (Linux >= 6.8): asked for with this bit, reported back as TCP_CLOSE.
TCP_BOUND_INACTIVE: Final = 13

#: State names as the kernel (and ss, and sockui's JSON) spell them, by value.
TCP_STATE_NAMES: Final[dict[int, str]] = {
    TCP_ESTABLISHED: "ESTABLISHED",
    TCP_SYN_SENT: "SYN_SENT",
    TCP_SYN_RECV: "SYN_RECV",
    TCP_FIN_WAIT1: "FIN_WAIT1",
    TCP_FIN_WAIT2: "FIN_WAIT2",
    TCP_TIME_WAIT: "TIME_WAIT",
    TCP_CLOSE: "CLOSE",
    TCP_CLOSE_WAIT: "CLOSE_WAIT",
    TCP_LAST_ACK: "LAST_ACK",
    TCP_LISTEN: "LISTEN",
    TCP_CLOSING: "CLOSING",
    TCP_NEW_SYN_RECV: "NEW_SYN_RECV",
    TCP_BOUND_INACTIVE: "BOUND_INACTIVE",
}
