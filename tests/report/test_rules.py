"""The rule table: every rule is well formed and every rule is triggered by a test that runs code.

The trigger check itself runs with each trigger test (tests/conftest.py: the test named in
tests/report/rule_triggers.py for a rule fails unless running it produced a finding of that rule).
Here: every rule has a trigger, and every trigger names a test that exists.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from modelguard.models import Severity, Verdict
from modelguard.report.rules import RULES
from tests.conftest import DESELECTED
from tests.report.rule_triggers import TRIGGERS

ROOT = Path(__file__).resolve().parents[2]
ID = re.compile(r"^MG-[SHPL]\d{3}$")


def test_rule_ids_and_text_are_well_formed() -> None:
    for rule_id, rule in RULES.items():
        assert ID.match(rule_id), rule_id
        assert isinstance(rule.severity, Severity) and isinstance(rule.verdict, Verdict)
        assert rule.title and not rule.title.endswith("."), rule_id
        assert len(rule.help) > 20, rule_id


def test_every_rule_has_a_trigger_test() -> None:
    """A rule no test triggers is a rule nobody knows works."""
    assert sorted(set(RULES) - set(TRIGGERS)) == [], "rules without a trigger in tests/report/rule_triggers.py"
    assert sorted(set(TRIGGERS) - set(RULES)) == [], "triggers for rules that do not exist"


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_trigger_names_a_test_that_exists(request: pytest.FixtureRequest) -> None:
    """The file and function exist; and when this session collected the file, the exact node id (with
    its parameters) was collected, so a renamed parameter cannot turn a trigger into a silent no-op."""
    collected = {item.nodeid for item in request.session.items} | DESELECTED
    files = {nodeid.partition("::")[0] for nodeid in collected}
    for rule, nodeid in TRIGGERS.items():
        file, _, test = nodeid.partition("::")
        path = ROOT / file
        assert path.is_file(), f"{rule}: {file} does not exist"
        assert test.partition("[")[0] in _functions(path), f"{rule}: no test function {test!r} in {file}"
        if file in files:
            assert nodeid in collected, f"{rule}: {nodeid} was not collected (a parameter renamed?)"
