"""The rule table: every rule is well formed and every rule is triggered by some test."""

from __future__ import annotations

import re
from pathlib import Path

from modelguard.models import Severity, Verdict
from modelguard.report.rules import RULES

TESTS = Path(__file__).resolve().parents[1]
ID = re.compile(r"^MG-[SHPL]\d{3}$")


def test_rule_ids_and_text_are_well_formed() -> None:
    for rule_id, rule in RULES.items():
        assert ID.match(rule_id), rule_id
        assert isinstance(rule.severity, Severity) and isinstance(rule.verdict, Verdict)
        assert rule.title and not rule.title.endswith("."), rule_id
        assert len(rule.help) > 20, rule_id


def test_every_rule_is_exercised_by_a_test() -> None:
    """A rule no test triggers is a rule nobody knows works. This file itself does not count."""
    corpus = "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in TESTS.rglob("*.py")
        if p.name != "test_rules.py"
    )
    missing = sorted(r for r in RULES if r not in corpus)
    assert not missing, f"rules no test mentions: {missing}"
