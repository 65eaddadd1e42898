"""``--events`` output: one JSON object per line per socket event.

Keys: ``time`` (unix seconds, float), ``event`` (``opened`` | ``state`` | ``closed``), then every key of
the ``--json`` schema for the socket, then what the event adds: ``previous_state`` for a state change;
for a close ``lifetime`` (seconds since a snapshot first saw it, or null), ``note`` (e.g. "lived < one
refresh"), ``inbound`` (true: accepted by a listener on its local port; false: made from here; null:
not a connection), and for TCP ``bytes_sent``, ``bytes_received``, ``retransmits`` (the kernel's
final counters, null when unknown). Strings are escaped as the ``--json`` output escapes them (ASCII
only), so a line is always one line and safe on a terminal.
"""

from __future__ import annotations

import json
from typing import Any

from sockui.model.export import record_json
from sockui.model.history import CLOSED, STATE, SocketEvent
from sockui.model.socket import Proto


def event_json(event: SocketEvent) -> dict[str, Any]:
    """The object of one event, keys in the documented order."""
    obj: dict[str, Any] = {"time": round(event.time, 6), "event": event.kind}
    obj.update(record_json(event.record))
    if event.kind == STATE:
        obj["previous_state"] = event.previous_state
    elif event.kind == CLOSED:
        obj["lifetime"] = None if event.lifetime is None else round(event.lifetime, 3)
        obj["note"] = event.note
        obj["inbound"] = event.inbound
        if event.record.proto is Proto.TCP:
            obj["bytes_sent"] = event.bytes_sent
            obj["bytes_received"] = event.bytes_received
            obj["retransmits"] = event.retransmits
    return obj


def event_line(event: SocketEvent) -> str:
    """:func:`event_json` as one compact line (no newline)."""
    return json.dumps(event_json(event), separators=(",", ":"))
