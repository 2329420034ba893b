"""The derived denylist (issue 17): the committed table is what the method derives, and it
never contradicts the allowlist.

The table (``modelguard/scan/pickle/reach_table.py``) is generated from the standard library's
source by ``python -m modelguard.scan.pickle.reach``; a change to the method, the primitives or
the interpreter shows up here as a difference to regenerate and review.
"""

from __future__ import annotations

import sys

import pytest

from modelguard.scan.pickle import allowlist, reach, reach_libs, reach_source, reach_table
from modelguard.scan.pickle.allowlist import SAFE_GLOBALS, Safety, classify


@pytest.fixture(scope="module")
def derived() -> reach.Derivation:
    return reach.derive([(reach.stdlib_root(), "")])


def test_the_committed_table_is_the_derivation(derived: reach.Derivation) -> None:
    version = ".".join(map(str, sys.version_info[:3]))
    fresh = reach.table_source(derived)
    if version != reach_table.DERIVED_FROM:
        # Another interpreter's standard library differs in detail; the examples below still hold.
        assert f'DERIVED_FROM = "{version}"' in fresh
        return
    with open(reach_table.__file__, encoding="utf-8") as f:
        assert f.read() == fresh, "regenerate with: python -m modelguard.scan.pickle.reach"


def test_no_allowlisted_callable_reaches_a_primitive(derived: reach.Derivation) -> None:
    # The allowlist's standard-library entries were reviewed as running no user-controlled code;
    # the derivation must agree for every one of their construction entry points.
    contradicted = sorted(f"{m}.{n}" for m, n in SAFE_GLOBALS if f"{m}.{n}" in derived.dangerous)
    assert contradicted == []


def test_every_primitive_is_dangerous_to_import() -> None:
    # A primitive imported straight into a pickle is dangerous, whether by family or by table.
    for name in reach.PRIMITIVES:
        module, _, attr = name.rpartition(".")
        if module and not attr.startswith("<"):
            assert classify(module, attr) is Safety.DANGEROUS, name


def test_reading_a_file_is_not_writing_one() -> None:
    import ast

    def reads(src: str) -> bool:
        call = ast.parse(src).body[0]
        assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
        return reach_source.reads_only(call.value)

    assert reads("open(p)") and reads("open(p, 'rb')") and reads("open(p, mode='r')")
    assert not reads("open(p, 'w')") and not reads("open(p, 'a+')") and not reads("open(p, m)")
    assert not reads("open(p, **kw)")


def test_the_committed_library_table_is_the_derivation() -> None:
    # torch, numpy and joblib are derived like the standard library (one run, ~30 s of CPU).
    roots, versions = reach.library_roots()
    fresh = reach.library_table_source(reach.derive([(reach.stdlib_root(), ""), *roots]), versions)
    if versions != reach_libs.DERIVED_FROM:
        # Other library releases differ in detail; the examples in test_redteam_round3 still hold.
        assert f"DERIVED_FROM: dict[str, str] = {versions!r}" in fresh
        return
    with open(reach_libs.__file__, encoding="utf-8") as f:
        assert f.read() == fresh, "regenerate with: python -m modelguard.scan.pickle.reach"


def test_the_scan_reads_the_library_table_for_every_derived_library() -> None:
    assert allowlist._LIBRARIES == reach.LIBRARIES


def test_library_callers_of_reviewed_helpers_are_not_derived_dangerous() -> None:
    # nn.Module.__setattr__ calls inspect.signature (eval only when asked to): not a gadget
    assert "torch.nn.modules.module.Module.__setattr__" not in reach_libs.REACHES
    # ...while a library callable that unpickles its argument is
    assert reach_libs.REACHES["torch.utils._config_module.ConfigModule.load_config"] == "_pickle.loads"


def test_inherited_methods_and_registries_are_in_the_table() -> None:
    assert reach_table.REACHES["pathlib.PosixPath.write_text"] == reach_table.REACHES["pathlib.Path.write_text"]
    assert reach_table.REACHES["copyreg._inverted_registry"] == "copyreg._inverted_registry.<write>"


def test_no_allowlisted_pair_is_a_derived_library_gadget() -> None:
    # An exact allowlisted pair beats the derived tables; the derivation must not contradict one.
    from modelguard.scan.pickle import packs

    reviewed = SAFE_GLOBALS | packs.DEFAULT_GLOBALS
    assert sorted(f"{m}.{n}" for m, n in reviewed if f"{m}.{n}" in reach_libs.REACHES) == []
