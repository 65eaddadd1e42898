"""Binding classification: which of listening / connected / bound / unbound a socket is in.

The rules are docs/spec.md section 2 applied to what the kernel reports. They live apart from the
collector so the psutil fallback and tests classify exactly the same way.
"""

from __future__ import annotations

from sockui.model.kernel import SOCK_DGRAM, TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN
from sockui.model.socket import TCP_STATES, Binding, Proto

UNCONN = "UNCONN"
ESTABLISHED = "ESTABLISHED"
LISTEN = "LISTEN"
BOUND_INACTIVE = "BOUND_INACTIVE"


def tcp_state(state: int) -> tuple[str, Binding]:
    """State name and binding class of a socket from a TCP dump.

    A TCP dump only walks the listen and established hash tables, where a CLOSE socket can only be
    a bound-inactive one (asked for with state bit 13, reported as 7; kernel >= 6.8).
    """
    if state == TCP_LISTEN:
        return LISTEN, Binding.LISTENING
    if state == TCP_CLOSE:
        return BOUND_INACTIVE, Binding.BOUND
    return TCP_STATES.get(state, f"STATE_{state}"), Binding.CONNECTED


def dgram_state(state: int) -> tuple[str, Binding]:
    """State name and binding class of a UDP or RAW socket from a dump (it is bound to be listed)."""
    if state == TCP_ESTABLISHED:
        return ESTABLISHED, Binding.CONNECTED
    return UNCONN, Binding.BOUND


def inet_state(proto: Proto, state: int) -> tuple[str, Binding]:
    """Dispatch on protocol: TCP has a state machine, UDP and RAW are connected or not."""
    if proto is Proto.TCP:
        return tcp_state(state)
    return dgram_state(state)


def unix_state(sock_type: int, state: int, named: bool, peer: int) -> tuple[str, Binding]:
    """State name and binding class of a UNIX socket.

    Stream and seqpacket sockets: the kernel state tells (10 listening, 1 connected, even when the
    peer is gone or not yet accepted). Datagram sockets: only PEER tells, because a bound datagram
    socket switches to state 1 as soon as someone else connects to it (docs/sock_diag.md section 5).
    """
    if sock_type == SOCK_DGRAM:
        if peer:
            return ESTABLISHED, Binding.CONNECTED
    elif state == TCP_LISTEN:
        return LISTEN, Binding.LISTENING
    elif state == TCP_ESTABLISHED or peer:
        return ESTABLISHED, Binding.CONNECTED
    if named:
        return UNCONN, Binding.BOUND
    return UNCONN, Binding.UNBOUND
