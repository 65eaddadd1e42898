"""Well-known service names from /etc/services, read once per collector (a few ms, no network)."""

from __future__ import annotations

from sockui.model.services import NO_SERVICES, ServiceTable, parse_services


def load_services(path: str = "/etc/services") -> ServiceTable:
    """Parse the services file; no names when it is missing (minimal containers)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return parse_services(fh.read())
    except OSError:
        return NO_SERVICES
