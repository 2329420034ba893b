"""Which test triggers each rule: ``TRIGGERS[rule id] = test node id``.

tests/conftest.py records the rule ids modelguard's own code produces while each test runs; the test
named here for a rule fails unless it produced a finding of that rule, and tests/report/test_rules.py
checks that every rule in :data:`modelguard.report.rules.RULES` has an entry naming a test that
exists. So "every rule has a test that triggers it" is checked by running code, not by grepping
test text. A trigger must run in-process (a subprocess's findings are not seen).

To find a trigger for a new rule: ``MODELGUARD_RULE_TRACE=/tmp/trace.jsonl python -m pytest`` writes,
per test, the rules it produced.
"""

from __future__ import annotations

TRIGGERS: dict[str, str] = {
}
