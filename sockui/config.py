"""The user's settings file (shown columns, sort order), kept between runs; never a reason to crash.

``$XDG_CONFIG_HOME/sockui/config.json``, else ``~/.config/sockui/config.json``. Reading tolerates a
missing, unreadable, corrupt or hand-mangled file: what cannot be used is replaced by the defaults and
a warning says so. Writing is atomic (temporary file in the same directory, fsync, rename), so a crash
or a full disk never leaves a half-written file; failures come back as a message. No Textual here: the
app calls these from worker threads.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sockui.model.format import safe

APP_DIR = "sockui"
FILE_NAME = "config.json"
#: A settings file larger than this is not a settings file.
MAX_SIZE = 64 * 1024


@dataclass(frozen=True)
class Config:
    """What sockui remembers between runs; None means "the built-in default"."""

    #: Column titles to show, in display order.
    columns: tuple[str, ...] | None = None
    sort_column: str | None = None
    sort_reverse: bool = False


def config_path() -> Path:
    """Where the settings live, resolved now (so ``XDG_CONFIG_HOME`` set after import counts).

    A relative ``XDG_CONFIG_HOME`` is ignored, as the XDG spec says. Raises RuntimeError when there is
    no XDG_CONFIG_HOME and the home directory cannot be determined.
    """
    base = os.environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return root / APP_DIR / FILE_NAME


def _resolve(path: Path | None) -> Path:
    return config_path() if path is None else path


def _show(path: Path | str) -> str:
    return safe(str(path))


def load_config(
    path: Path | None = None, *, valid_titles: Iterable[str] | None = None
) -> tuple[Config, str | None]:
    """The settings and a warning (None when all is well); a missing file is just the defaults.

    Never raises. A file that cannot be read or is not JSON gives the defaults; a field of the wrong
    type gives that field's default. With ``valid_titles``, unknown column names are dropped (and a
    sort column that is unknown is forgotten). Warnings are plain text with control characters escaped.
    """
    try:
        path = _resolve(path)
        data = _read(path)
    except FileNotFoundError:
        return Config(), None
    except (OSError, RuntimeError, ValueError) as exc:
        where = _show(path) if isinstance(path, Path) else "the settings file"
        return Config(), f"settings not read from {where}: {_reason(exc)}"
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as exc:
        return Config(), f"settings not read from {_show(path)}: not valid JSON ({_reason(exc)})"
    if not isinstance(raw, dict):
        return Config(), f"settings not read from {_show(path)}: not a JSON object"
    valid = None if valid_titles is None else frozenset(valid_titles)
    problems: list[str] = []
    config = Config(
        columns=_columns(raw.get("columns"), valid, problems),
        sort_column=_sort_column(raw.get("sort_column"), valid, problems),
        sort_reverse=_sort_reverse(raw.get("sort_reverse", False), problems),
    )
    if problems:
        return config, f"settings in {_show(path)}: " + "; ".join(problems)
    return config, None


def _read(path: Path) -> str:
    """The file's text; refuses what is not a regular file (a FIFO would block the reader forever)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        data = fh.read(MAX_SIZE + 1)
    if len(data) > MAX_SIZE:
        raise ValueError(f"larger than {MAX_SIZE} bytes")
    return data.decode("utf-8")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return safe(exc.strerror)
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    return safe(str(exc))[:200]


def _columns(value: Any, valid: frozenset[str] | None, problems: list[str]) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append("'columns' is not a list of column names")
        return None
    names = tuple(dict.fromkeys(value))
    if valid is not None:
        unknown = [n for n in names if n not in valid]
        if unknown:
            problems.append("unknown columns ignored: " + ", ".join(safe(n)[:40] for n in unknown[:5]))
        names = tuple(n for n in names if n in valid)
    return names or None


def _sort_column(value: Any, valid: frozenset[str] | None, problems: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append("'sort_column' is not a column name")
        return None
    if valid is not None and value not in valid:
        problems.append(f"unknown sort column ignored: {safe(value)[:40]}")
        return None
    return value


def _sort_reverse(value: Any, problems: list[str]) -> bool:
    if isinstance(value, bool):
        return value
    problems.append("'sort_reverse' is not true or false")
    return False


def save_config(config: Config, path: Path | None = None) -> str | None:
    """Write the settings atomically; an error message (plain, escaped text) instead of raising.

    The directory is created (mode 0700) if need be. The file is replaced in one rename: readers see
    the old settings or the new ones, never a mixture, and a failure leaves no temporary file behind.
    """
    data = {
        "columns": None if config.columns is None else list(config.columns),
        "sort_column": config.sort_column,
        "sort_reverse": config.sort_reverse,
    }
    text = json.dumps(data, indent=2) + "\n"
    tmp: str | None = None
    try:
        path = _resolve(path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
        _sync_dir(path.parent)
    except (OSError, RuntimeError) as exc:
        where = _show(path) if isinstance(path, Path) else "the settings file"
        return f"settings not saved to {where}: {_reason(exc)}"
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return None


def _sync_dir(directory: Path) -> None:
    """Make the rename itself durable; best effort (some filesystems refuse fsync on a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
