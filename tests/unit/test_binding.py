"""Binding classification: every rule of model/binding.py, from the kernel's numbers to the classes."""

from __future__ import annotations

import pytest

from sockui.model.binding import dgram_state, inet_state, tcp_state, unix_state
from sockui.model.socket import STATE_NAMES, TCP_STATES, Binding, Proto

STREAM, DGRAM, SEQPACKET = 1, 2, 5
ESTABLISHED, CLOSE, LISTEN = 1, 7, 10


# --- TCP ------------------------------------------------------------------------------------------------


def test_tcp_listen() -> None:
    assert tcp_state(10) == ("LISTEN", Binding.LISTENING)


def test_tcp_close_in_a_dump_is_bound_inactive() -> None:
    assert tcp_state(7) == ("BOUND_INACTIVE", Binding.BOUND)


@pytest.mark.parametrize(
    ("state", "name"),
    [
        (1, "ESTABLISHED"),
        (2, "SYN_SENT"),
        (3, "SYN_RECV"),
        (4, "FIN_WAIT1"),
        (5, "FIN_WAIT2"),
        (6, "TIME_WAIT"),
        (8, "CLOSE_WAIT"),
        (9, "LAST_ACK"),
        (11, "CLOSING"),
    ],
)
def test_tcp_flow_states_are_connected(state: int, name: str) -> None:
    assert tcp_state(state) == (name, Binding.CONNECTED)


def test_tcp_unknown_state_named_by_number() -> None:
    assert tcp_state(42) == ("STATE_42", Binding.CONNECTED)


def test_every_tcp_state_name_is_a_known_state_name() -> None:
    for state in TCP_STATES:
        name, _binding = tcp_state(state)
        assert name in STATE_NAMES


# --- UDP and RAW ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("proto", [Proto.UDP, Proto.RAW])
def test_dgram_connected_and_bound(proto: Proto) -> None:
    assert inet_state(proto, ESTABLISHED) == ("ESTABLISHED", Binding.CONNECTED)
    assert inet_state(proto, CLOSE) == ("UNCONN", Binding.BOUND)
    # Whatever else a dump says, a listed datagram socket is bound.
    assert inet_state(proto, LISTEN) == ("UNCONN", Binding.BOUND)


def test_dgram_state_directly() -> None:
    assert dgram_state(1) == ("ESTABLISHED", Binding.CONNECTED)
    assert dgram_state(7) == ("UNCONN", Binding.BOUND)


def test_inet_state_dispatches_tcp() -> None:
    assert inet_state(Proto.TCP, CLOSE) == ("BOUND_INACTIVE", Binding.BOUND)
    assert inet_state(Proto.TCP, LISTEN) == ("LISTEN", Binding.LISTENING)
    assert inet_state(Proto.TCP, 6) == ("TIME_WAIT", Binding.CONNECTED)


# --- UNIX -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stype", [STREAM, SEQPACKET])
def test_unix_stream_listening(stype: int) -> None:
    assert unix_state(stype, LISTEN, True, 0) == ("LISTEN", Binding.LISTENING)


@pytest.mark.parametrize("stype", [STREAM, SEQPACKET])
def test_unix_stream_connected_with_peer(stype: int) -> None:
    assert unix_state(stype, ESTABLISHED, False, 1234) == ("ESTABLISHED", Binding.CONNECTED)
    # The accepted side carries the listener's name and is still connected.
    assert unix_state(stype, ESTABLISHED, True, 1234) == ("ESTABLISHED", Binding.CONNECTED)


@pytest.mark.parametrize("stype", [STREAM, SEQPACKET])
def test_unix_stream_state_1_without_peer_is_connected(stype: int) -> None:
    # Not accepted yet (peer inode 0), or the peer is gone: the kernel state still says connected.
    assert unix_state(stype, ESTABLISHED, False, 0) == ("ESTABLISHED", Binding.CONNECTED)


def test_unix_stream_peer_without_state_1_is_connected() -> None:
    assert unix_state(STREAM, CLOSE, False, 99) == ("ESTABLISHED", Binding.CONNECTED)


@pytest.mark.parametrize("stype", [STREAM, SEQPACKET])
def test_unix_stream_bound_and_unbound(stype: int) -> None:
    assert unix_state(stype, CLOSE, True, 0) == ("UNCONN", Binding.BOUND)
    assert unix_state(stype, CLOSE, False, 0) == ("UNCONN", Binding.UNBOUND)


def test_unix_dgram_connected_needs_a_peer() -> None:
    assert unix_state(DGRAM, ESTABLISHED, False, 555) == ("ESTABLISHED", Binding.CONNECTED)
    assert unix_state(DGRAM, CLOSE, False, 555) == ("ESTABLISHED", Binding.CONNECTED)


def test_unix_dgram_connected_by_someone_else_is_bound() -> None:
    # A bound datagram socket switches to state 1 when another socket connects to it, with no peer.
    assert unix_state(DGRAM, ESTABLISHED, True, 0) == ("UNCONN", Binding.BOUND)


def test_unix_dgram_unnamed_without_peer_is_unbound() -> None:
    assert unix_state(DGRAM, ESTABLISHED, False, 0) == ("UNCONN", Binding.UNBOUND)
    assert unix_state(DGRAM, CLOSE, False, 0) == ("UNCONN", Binding.UNBOUND)


def test_unix_dgram_never_listening() -> None:
    assert unix_state(DGRAM, LISTEN, True, 0) == ("UNCONN", Binding.BOUND)
