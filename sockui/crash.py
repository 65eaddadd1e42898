"""Crash reports: an unexpected exception's traceback goes to a file, the terminal gets one line.

Textual's default is to print a rich traceback with every frame's local variables on stderr when
the app dies: hundreds of lines that scroll the user's shell away, and local variables full of
socket data. sockui writes the whole report to a private file instead and says where it is, in one
line, after the terminal has been restored (see ``SockuiApp._handle_exception`` and ``cli.main``).

This runs when something already went wrong, so it must not fail in turn: the standard library
and sockui's own text escaping only, and no function here raises.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

from sockui import __version__
from sockui.model.format import safe

#: Environment variables worth having in a report (the terminal's kind and the locale decide how
#: the screen is drawn); nothing else of the environment is written (it may hold secrets).
REPORTED_ENV = ("TERM", "COLORTERM", "NO_COLOR", "LANG", "LC_ALL", "LC_CTYPE", "TMUX", "SSH_CONNECTION")


def crash_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """Where a report may go, best first.

    ``$XDG_STATE_HOME/sockui`` (or ``~/.local/state/sockui``), then the temporary directory: a
    read-only or missing home must not lose the report.
    """
    env = os.environ if env is None else env
    state = env.get("XDG_STATE_HOME", "")
    dirs: list[Path] = []
    if state and os.path.isabs(state):
        dirs.append(Path(state) / "sockui")
    else:
        home = env.get("HOME", "")
        if home and os.path.isabs(home):
            dirs.append(Path(home) / ".local" / "state" / "sockui")
    dirs.append(Path(tempfile.gettempdir()))
    return dirs


def _unwrap(error: BaseException) -> BaseException:
    """The exception that went wrong.

    A Textual worker's failure (WorkerFailed) carries it as ``.error``, with the traceback; it has
    none of its own.
    """
    inner = getattr(error, "error", None)
    wrapped = type(error).__name__ == "WorkerFailed" and isinstance(inner, BaseException)
    return inner if wrapped and isinstance(inner, BaseException) else error


def _header(argv: Sequence[str], env: Mapping[str, str]) -> str:
    try:
        import textual

        textual_version = textual.__version__
    except Exception:  # noqa: BLE001 - a report without Textual's version is still a report
        textual_version = "?"
    lines = [
        f"sockui {__version__} crashed at {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
        f"python {platform.python_version()}, textual {textual_version}, {platform.platform()}",
        f"command: {' '.join(argv)}",
    ]
    lines += [f"{name}={env[name]}" for name in REPORTED_ENV if name in env]
    return "\n".join(lines) + "\n\n"


def _create(directory: Path, stamp: str) -> tuple[Path, int] | None:
    """A new file of the user's own in ``directory``, or None if it cannot be made there.

    O_EXCL and O_NOFOLLOW: in a shared /tmp another user may have planted a file or a symlink under
    a guessable name; such a name is skipped, never written through.
    """
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    prefix = "crash" if directory.name == "sockui" else "sockui-crash"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for attempt in range(10):
        suffix = f"-{attempt}" if attempt else ""
        path = directory / f"{prefix}-{stamp}-{os.getpid()}{suffix}.txt"
        try:
            return path, os.open(path, flags, 0o600)
        except FileExistsError:
            continue
        except OSError:
            return None
    return None


def _format(error: BaseException) -> str:
    inner = _unwrap(error)
    text = "".join(traceback.format_exception(inner))
    return text if inner is error else f"in a worker ({error}):\n{text}"


def write_report(
    error: BaseException,
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    dirs: Sequence[Path] | None = None,
) -> Path | None:
    """Write ``error`` (with its traceback and causes) to a new file; its path, or None on failure."""
    env = os.environ if env is None else env
    try:
        text = _header(sys.argv if argv is None else argv, env) + _format(error)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for directory in crash_dirs(env) if dirs is None else dirs:
            created = _create(directory, stamp)
            if created is None:
                continue
            path, fd = created
            with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(text)
            return path
    except Exception:  # noqa: BLE001 - the caller falls back to printing the traceback
        return None
    return None


def append_report(path: Path, error: BaseException) -> None:
    """Add a later exception to an existing report (the first one is usually the cause)."""
    try:
        with open(path, "a", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write("\nThen:\n" + _format(error))
    except Exception:  # noqa: BLE001, S110 - the first traceback is what matters; it is written
        pass


def describe(error: BaseException | None, path: Path | None) -> str:
    """The one line printed on stderr once the terminal is back."""
    what = ""
    if error is not None:
        inner = _unwrap(error)
        # An exception's text may quote what the system gave (a process name, a path): no raw
        # control character reaches the terminal.
        try:
            detail = safe(" ".join(str(inner).split()))
        except Exception:  # noqa: BLE001 - a broken __str__: the type's name is said anyway
            detail = ""
        what = f" ({type(inner).__name__}: {detail[:120]})" if detail else f" ({type(inner).__name__})"
    if path is None:
        return f"sockui: internal error{what}; no crash report could be written (traceback above)"
    return f"sockui: internal error{what}; the traceback is in {path} (please include it in a bug report)"
