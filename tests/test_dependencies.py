"""Dependencies are honest: what modelguard imports is declared, and an optional one is optional.

Every third-party package imported anywhere in ``modelguard/`` is a declared dependency or an
optional extra (``httpx2`` used to be imported but not declared); ``fickling``, now the
``decompile`` extra, changes no verdict when it is missing; the license is an SPDX expression.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
import tomlkit

from modelguard.scan import scan_bytes

ROOT = Path(__file__).resolve().parent.parent
EVIL_PICKLE = b"\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."  # never loaded


def _project() -> dict[str, object]:
    project = tomlkit.parse((ROOT / "pyproject.toml").read_text(encoding="utf-8")).unwrap()["project"]
    assert isinstance(project, dict)
    return project


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def _imported_top_level_modules() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "modelguard").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "modelguard"}


def test_every_imported_package_is_declared() -> None:
    project = _project()
    required = _names(project["dependencies"])  # type: ignore[arg-type]
    extras = project["optional-dependencies"]
    assert isinstance(extras, dict)
    optional = set().union(*(_names(v) for name, v in extras.items() if name != "test"))
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for module in _imported_top_level_modules():
        dists = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not dists & (required | optional):
            undeclared[module] = sorted(dists)
    assert undeclared == {}, f"imported by modelguard but not declared in pyproject.toml: {undeclared}"
    assert "httpx2" in required and "safetensors" in required
    assert "fickling" in optional and "fickling" not in required


def test_the_license_is_an_spdx_expression() -> None:
    assert _project()["license"] == "Apache-2.0"


def test_without_fickling_the_verdict_is_the_same_and_only_the_detail_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    with_fickling = scan_bytes(EVIL_PICKLE, "evil.pkl")
    assert any("fickling" in f.detail for f in with_fickling.findings)
    monkeypatch.setitem(sys.modules, "fickling", None)  # as if the decompile extra were not installed
    monkeypatch.setitem(sys.modules, "fickling.fickle", None)
    without = scan_bytes(EVIL_PICKLE, "evil.pkl")
    assert without.verdict == with_fickling.verdict
    assert [(f.rule, f.severity, f.message) for f in without.findings] == \
        [(f.rule, f.severity, f.message) for f in with_fickling.findings]
    assert all(not f.detail for f in without.findings)
