"""Well-known service names (port -> name) from /etc/services, read once in a worker thread."""

from __future__ import annotations

from sockui.model.describe import parse_services


def load_services(path: str = "/etc/services") -> dict[tuple[int, str], str]:
    """Parse the services file; an empty map when it is missing (minimal containers)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return parse_services(fh.read())
    except OSError:
        return {}
