"""Well-known service names both ways (443/tcp <-> https), parsed from the text of /etc/services.

The collector reads the file (I/O belongs there) and hands a :class:`ServiceTable` around: the
snapshot carries it for the detail pane, the filter parser takes it to understand ``port https``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServiceTable:
    """Port <-> name maps; the first name listed for a port wins, as in getservbyport(3)."""

    #: (port, "tcp" | "udp") -> name
    names: Mapping[tuple[int, str], str] = field(default_factory=dict)
    #: lower-case name or alias -> port (tcp entries win over udp ones)
    ports: Mapping[str, int] = field(default_factory=dict)

    def name(self, port: int, proto: str) -> str | None:
        """``https`` for (443, "tcp"); None when the port has no well-known name."""
        return self.names.get((port, proto))

    def port(self, name: str) -> int | None:
        """443 for ``https`` (any case, aliases included); None when unknown."""
        return self.ports.get(name.lower())


#: No services known (a minimal container without /etc/services, and the default in tests).
NO_SERVICES = ServiceTable()


def parse_services(text: str) -> ServiceTable:
    """Parse /etc/services: ``name port/proto [aliases] [# comment]`` per line."""
    names: dict[tuple[int, str], str] = {}
    ports: dict[str, int] = {}
    udp_only: dict[str, int] = {}
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if len(words) < 2 or "/" not in words[1]:
            continue
        port_text, proto = words[1].split("/", 1)
        if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
            continue
        port, proto = int(port_text), proto.lower()
        names.setdefault((port, proto), words[0])
        for alias in (words[0], *words[2:]):
            (ports if proto == "tcp" else udp_only).setdefault(alias.lower(), port)
    for alias, port in udp_only.items():
        ports.setdefault(alias, port)
    return ServiceTable(names, ports)
