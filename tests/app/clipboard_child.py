"""Run inside a tmux pane by test_clipboard_tmux.py: copy a text with sockui's clipboard code and report.

``python clipboard_child.py TEXT REPORT_FILE terminal|none``: calls ``copy(TEXT)`` with the pane's
environment (so ``$TMUX`` is set), with a terminal writer that writes to the pane when asked, and
writes the deliveries as JSON to REPORT_FILE. The repository root goes first on ``sys.path`` so the
working tree's code is what runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sockui.act.clipboard import copy  # noqa: E402  (after the sys.path line above)


def write_terminal(sequence: str) -> None:
    sys.stdout.write(sequence)
    sys.stdout.flush()


def main() -> int:
    text, report, terminal = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "terminal"
    deliveries = copy(text, timeout=5.0, write_terminal=write_terminal if terminal else None)
    report.write_text(json.dumps([[d.route, d.ok, d.detail, d.attempted] for d in deliveries]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
