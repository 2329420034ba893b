"""ruff and mypy --strict are part of the test command, so CI and a developer run the same checks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> list[str]:
    exe = Path(sys.executable).with_name(name)
    if exe.exists():
        return [str(exe)]
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; run: python -m pip install -e '.[test]'")
    return [found]


def test_ruff_clean() -> None:
    proc = subprocess.run([*_tool("ruff"), "check", "modelguard", "tests", "bench"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_clean() -> None:
    proc = subprocess.run([*_tool("mypy")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- the house rules: module and function size, the top level, public APIs of dependencies ---------

PACKAGE = ROOT / "modelguard"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80
TOP_LEVEL = {
    "__init__.py", "__main__.py", "api.py", "models.py", "errors.py",
    "clock.py",  # the one place the calendar is read (tests pin it); every dated verdict goes through it
}
# Functions the scan helpers are splitting; remove an entry when it is split (issue 19's pickle fast
# path, scan/pickle/loop.py::run, was split by issue 17's session).
KNOWN_LONG_FUNCTIONS: set[str] = set()


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_over_the_line_limit() -> None:
    long = {p.relative_to(PACKAGE).as_posix(): n for p in _sources()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them along a seam): {long}"


def test_no_function_over_the_line_limit() -> None:
    import ast

    long: dict[str, int] = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE).as_posix()}::{node.name}"] = lines
    unexpected = {name: n for name, n in long.items() if name not in KNOWN_LONG_FUNCTIONS}
    assert not unexpected, f"functions over {MAX_FUNCTION_LINES} lines (split them): {unexpected}"
    fixed = KNOWN_LONG_FUNCTIONS - set(long)
    assert not fixed, f"no longer over the limit; remove from KNOWN_LONG_FUNCTIONS: {fixed}"


def test_the_top_level_holds_only_the_surface() -> None:
    modules = {p.name for p in PACKAGE.glob("*.py")}
    assert modules == TOP_LEVEL, f"put {sorted(modules - TOP_LEVEL)} in the folder of its layer"


def test_no_private_module_of_a_dependency_is_imported() -> None:
    """huggingface_hub's private modules change without notice; its public API has what modelguard uses."""
    import re

    private = re.compile(r"^\s*(?:from|import)\s+(huggingface_hub(?:\.\w+)*\._\w+)", re.MULTILINE)
    found = {p.relative_to(PACKAGE).as_posix(): m for p in _sources()
             if (m := private.findall(p.read_text(encoding="utf-8")))}
    assert not found, found


def test_ci_runs_the_readme_test_command_exactly() -> None:
    import re

    readme = re.search(r"^python -m pip install -e '\.\[test\]'.*$", (ROOT / "README.md").read_text(encoding="utf-8"),
                       re.MULTILINE)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert readme is not None and readme.group(0) in ci, "README's test command and .ci/run differ"
