"""The settings file: where it lives, what survives a round trip, and that no bad file or disk crashes sockui.

Proves: settings written are read back identical; ``XDG_CONFIG_HOME`` (absolute) wins over ``~/.config``
and is read when called, not at import; a missing file is silently the defaults; a corrupt, non-JSON,
non-UTF-8, oversized, FIFO, directory or wrongly typed file gives the defaults (field by field where
only a field is wrong) and a warning, never an exception, and a warning never carries raw control
characters; unknown column names are dropped; a directory that cannot be created or written to gives an
error string (as root through a parent that is a file; as nobody, through setpriv, on a directory nobody
may not write); the directory is created 0700; an interrupted write leaves neither a temporary file nor
a damaged config.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import sockui.config as config_module
from sockui.config import Config, config_path, load_config, save_config
from sockui.model.columns import TITLES

CONTROL = [chr(c) for c in (*range(0x20), 0x7F)]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME with no XDG_CONFIG_HOME: the settings go to ``home/.config/sockui``."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return tmp_path / "home"


def no_control(text: str | None) -> bool:
    return text is not None and not any(c in text for c in CONTROL)


def test_round_trip(home: Path) -> None:
    config = Config(columns=("Proto", "Local", "Remote", "User"), sort_column="Remote", sort_reverse=True)
    assert save_config(config) is None
    assert (home / ".config" / "sockui" / "config.json").is_file()
    assert load_config(valid_titles=TITLES) == (config, None)
    assert save_config(Config()) is None, "overwriting works"
    assert load_config() == (Config(), None)


def test_missing_file_is_the_defaults_without_warning(home: Path) -> None:
    assert load_config() == (Config(), None)
    assert not (home / ".config").exists(), "reading creates nothing"


def test_xdg_config_home_is_resolved_at_call_time(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert config_path() == home / ".config" / "sockui" / "config.json"
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    assert config_path() == xdg / "sockui" / "config.json"
    assert save_config(Config(sort_column="User")) is None
    assert json.loads((xdg / "sockui" / "config.json").read_text())["sort_column"] == "User"
    assert not (home / ".config").exists()
    assert load_config() == (Config(sort_column="User"), None)
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    assert config_path() == home / ".config" / "sockui" / "config.json", "a relative XDG path is ignored"
    monkeypatch.setenv("XDG_CONFIG_HOME", "")
    assert config_path() == home / ".config" / "sockui" / "config.json"


def test_directory_is_private(home: Path) -> None:
    assert save_config(Config()) is None
    mode = stat.S_IMODE((home / ".config" / "sockui").stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "larger than"),
        (b"[" * 20_000 + b"]" * 20_000, "not"),
        (b'{"columns": ["Proto", "Local"], "sort_column": "Loc', "not valid JSON"),
    ],
    ids=["garbage", "empty", "latin1", "list", "null", "huge", "deep", "truncated"],
)
def test_corrupt_file_gives_defaults_and_a_warning(home: Path, content: bytes, why: str) -> None:
    path = home / "config.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    config, warning = load_config(path, valid_titles=TITLES)
    assert config == Config()
    assert warning is not None and why in warning, warning
    assert str(path) in warning


def test_wrong_types_fall_back_field_by_field(home: Path) -> None:
    path = home / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"columns": "Proto,Local", "sort_column": "User", "sort_reverse": 1}))
    config, warning = load_config(path, valid_titles=TITLES)
    assert config == Config(sort_column="User"), "the valid field is kept"
    assert warning is not None and "'columns'" in warning and "'sort_reverse'" in warning
    path.write_text(json.dumps({"columns": ["Proto", 3], "sort_column": ["x"], "extra": {"future": 1}}))
    config, warning = load_config(path, valid_titles=TITLES)
    assert config == Config()
    assert warning is not None and "'columns'" in warning and "'sort_column'" in warning
    assert "extra" not in warning, "unknown keys (a newer sockui's) are ignored quietly"


def test_unknown_columns_are_dropped(home: Path) -> None:
    path = home / "config.json"
    path.parent.mkdir(parents=True)
    hostile = "\x1b[31mEvil\n[bold]"
    path.write_text(
        json.dumps({"columns": ["Remote", hostile, "Proto", "Remote", "Bogus-Col"], "sort_column": "Nope"})
    )
    config, warning = load_config(path, valid_titles=TITLES)
    assert config == Config(columns=("Remote", "Proto"), sort_column=None)
    assert warning is not None and "Bogus-Col" in warning and "Nope" in warning
    assert no_control(warning), "names from the file are escaped in the warning"
    assert r"\e[31mEvil\n[bold]" in warning
    # Without valid_titles nothing is dropped (but duplicates are).
    assert load_config(path)[0].columns == ("Remote", hostile, "Proto", "Bogus-Col")
    path.write_text(json.dumps({"columns": ["Gone", "Also gone"]}))
    assert load_config(path, valid_titles=TITLES)[0].columns is None, "nothing left: the default columns"


def test_what_is_not_a_regular_file_is_refused(home: Path) -> None:
    path = home / "config.json"
    path.parent.mkdir(parents=True)
    os.mkfifo(path)  # opening a FIFO for reading would block until a writer comes: never
    config, warning = load_config(path)
    assert config == Config() and warning is not None and "not a regular file" in warning
    path.unlink()
    path.mkdir()
    config, warning = load_config(path)
    assert config == Config() and warning is not None


def test_unreadable_file_gives_a_warning(home: Path) -> None:
    path = home / "not-a-dir" / "config.json"
    path.parent.parent.mkdir(parents=True)
    path.parent.write_text("a file where a directory should be")
    config, warning = load_config(path)
    assert config == Config() and warning is not None and str(path) in warning


def test_no_home_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    config, warning = load_config()
    assert config == Config() and warning is not None
    error = save_config(Config())
    assert error is not None and "home directory" in error


def test_directory_that_cannot_be_created_gives_an_error_string(home: Path) -> None:
    home.mkdir()
    (home / ".config").write_text("a file where a directory should be")
    error = save_config(Config(columns=("Proto", "Local")))
    assert error is not None and "not saved" in error and str(home / ".config") in error
    assert no_control(error)


def setpriv_nobody() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed: cannot drop to nobody")
    return ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user may enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="sockui-config-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for sub in (path, *path.rglob("*")):
            if sub.is_dir():
                sub.chmod(0o755)
        shutil.rmtree(path, ignore_errors=True)


def test_read_only_home_gives_an_error_string(shared_dir: Path) -> None:
    """A home the user may not write to (run as nobody when the tests run as root: root writes anyway)."""
    home = shared_dir / "home"
    home.mkdir()
    (home / ".config" / "sockui").mkdir(parents=True)
    existing = home / ".config" / "sockui" / "config.json"
    existing.write_text(json.dumps({"sort_column": "State"}))
    for path in (home, home / ".config", home / ".config" / "sockui"):
        path.chmod(0o555)
    existing.chmod(0o444)
    code = (
        "import sys; from sockui.config import Config, load_config, save_config; "
        "print(load_config()); print(save_config(Config(sort_column='User')))"
    )
    env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"}
    env.update(HOME=str(home), PYTHONPATH=str(Path(config_module.__file__).resolve().parent.parent))
    result = subprocess.run(
        [*setpriv_nobody(), sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=60,
        check=False,
    )
    if result.returncode != 0 and "ModuleNotFoundError" in result.stderr:
        pytest.skip(f"this user cannot import sockui from {sys.executable}: {result.stderr[-300:]}")
    assert result.returncode == 0, result.stderr
    read, saved = result.stdout.splitlines()
    assert read == repr((Config(sort_column="State"), None)), "a read-only file is still read"
    assert saved.startswith("settings not saved to ") and "ermission denied" in saved, saved
    assert json.loads(existing.read_text()) == {"sort_column": "State"}, "the old file is intact"
    assert sorted(p.name for p in existing.parent.iterdir()) == ["config.json"]


def test_failed_write_leaves_no_temporary_file_and_the_old_config(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = Config(columns=("Proto", "Local"), sort_column="Local")
    assert save_config(old) is None
    directory = home / ".config" / "sockui"

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    error = save_config(Config(sort_column="User"))
    assert error is not None and "No space left on device" in error
    monkeypatch.undo()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert sorted(p.name for p in directory.iterdir()) == ["config.json"], "the temporary file was removed"
    assert load_config() == (old, None), "the previous settings are intact"


def test_atomic_write_leaves_only_the_file(home: Path) -> None:
    directory = home / ".config" / "sockui"
    for i in range(5):
        assert save_config(Config(sort_column=TITLES[i], sort_reverse=bool(i % 2))) is None
    assert sorted(p.name for p in directory.iterdir()) == ["config.json"]
    assert load_config() == (Config(sort_column=TITLES[4], sort_reverse=False), None)
    data = json.loads((directory / "config.json").read_text())
    assert data == {"columns": None, "sort_column": TITLES[4], "sort_reverse": False}


def test_explicit_path(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "settings.json"
    assert save_config(Config(columns=("Proto",)), path) is None
    assert load_config(path) == (Config(columns=("Proto",)), None)


def test_config_module_does_not_import_textual() -> None:
    code = "import sys, sockui.config; print(any(m.split('.')[0] == 'textual' for m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"
