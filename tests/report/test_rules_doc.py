"""docs/rules.md is generated from the rule table, current, and has the section every SARIF helpUri points at."""

from __future__ import annotations

import re
import subprocess
import sys

from modelguard.report.links import RULES_DOC, rule_anchor, rule_help_uri
from modelguard.report.rules import RULES
from tests._schemas import ROOT

SCRIPT = ROOT / "scripts" / "gen_rules_doc.py"


def _github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub makes from headings: lower case, punctuation but '-' dropped, spaces as '-'."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE):
        out.add(re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-"))
    return out


def test_checked_in_reference_is_what_the_script_writes() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_every_rule_has_the_section_its_help_uri_points_at() -> None:
    text = (ROOT / RULES_DOC).read_text(encoding="utf-8")
    anchors = _github_anchors(text)
    for rule in RULES.values():
        assert rule_anchor(rule.id) in anchors, rule.id
        assert rule_help_uri(rule.id).endswith(f"/{RULES_DOC}#{rule_anchor(rule.id)}")
        section = text.split(f"### {rule.id}\n", 1)[1].split("\n### ", 1)[0]
        assert rule.title in section and rule.help in section and rule.severity.value in section


def test_check_mode_fails_on_a_stale_reference(tmp_path) -> None:
    # The script run on a copy of the tree whose reference lost a rule: --check must say so and exit 1.
    copy = tmp_path / "tree"
    (copy / "scripts").mkdir(parents=True)
    (copy / "docs").mkdir()
    (copy / "scripts" / "gen_rules_doc.py").write_bytes(SCRIPT.read_bytes())
    stale = (ROOT / RULES_DOC).read_text(encoding="utf-8").replace("### MG-S101\n", "### MG-S10l\n")
    (copy / RULES_DOC).write_text(stale, encoding="utf-8")
    (copy / "modelguard").symlink_to(ROOT / "modelguard")
    proc = subprocess.run([sys.executable, str(copy / "scripts" / "gen_rules_doc.py"), "--check"],
                          capture_output=True, text=True, cwd=copy)
    assert proc.returncode == 1 and "out of date" in proc.stderr
