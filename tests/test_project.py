"""Project hygiene that CI must enforce: lint, types, import layering, README <-> CI agreement."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> list[str]:
    """Run a dev tool from this interpreter's environment."""
    return [sys.executable, "-m", name]


def test_readme_test_command_is_what_ci_runs() -> None:
    """.ci/run must run exactly the test command the README gives a newcomer."""
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(python3 -m venv .*pytest.*)$", readme, flags=re.M)
    assert commands, "README has no test command"
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[0] in ci.splitlines(), f"{commands[0]!r} is not a line of .ci/run"


def test_collectors_do_not_import_textual() -> None:
    """collect/ and model/ stay free of the UI stack: --once and scripts must not pay for it."""
    code = (
        "import sys, sockui.collect.snapshot, sockui.model.export, sockui.model.filters, sockui.cli; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_layers_import_one_way() -> None:
    """collect -> model, widgets/screens -> model: no module of model imports collect or widgets."""
    offenders = []
    for path in (ROOT / "sockui").rglob("*.py"):
        layer = path.relative_to(ROOT / "sockui").parts[0]
        text = path.read_text()
        if layer == "model" and re.search(r"from sockui\.(collect|widgets|screens|app)", text):
            offenders.append(path.name)
        if layer in ("widgets", "screens") and re.search(r"from sockui\.collect", text):
            offenders.append(path.name)
        if layer == "collect" and re.search(r"from sockui\.(widgets|screens|app)|import textual", text):
            offenders.append(path.name)
    assert not offenders


@pytest.mark.skipif(
    shutil.which("ruff") is None and not Path(sys.executable).with_name("ruff").exists(),
    reason="ruff is not installed (pip install '.[test]')",
)
def test_ruff_clean() -> None:
    ruff = (
        str(Path(sys.executable).with_name("ruff"))
        if Path(sys.executable).with_name("ruff").exists()
        else "ruff"
    )
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_clean() -> None:
    """The package and the tests: a test that calls the code wrongly is a test that lies."""
    pytest.importorskip("mypy", reason="mypy is not installed (pip install '.[test]')")
    result = subprocess.run(
        [*_tool("mypy"), "--strict", "sockui", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_entry_points_answer() -> None:
    """--version and --help work without a terminal and without Textual starting."""
    version = subprocess.run([*_tool("sockui"), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("sockui ")
    usage = subprocess.run([*_tool("sockui"), "--help"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 0 and "--once" in usage.stdout
