"""Suppressions from the policy: rule + scope + reason + expiry; suppressed findings stay listed."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from modelguard.errors import ExitCode
from modelguard.models import FileResult, Finding, Report, Severity, Verdict
from modelguard.report.rules import finding
from modelguard.report.text import to_json, to_text
from modelguard.spec.types import Policy, Suppression
from modelguard.trust.suppress import apply_suppressions, scope_matches
from tests._schemas import assert_valid_report

TODAY = dt.date(2026, 6, 1)


def _policy(*suppressions: Suppression) -> Policy:
    return Policy(suppressions=suppressions, source="org-policy.toml")


def _s(rule: str = "MG-S002", scope: str = "*", reason: str = "vendor blob reviewed",
       expires: str = "2026-12-31", line: int = 14) -> Suppression:
    return Suppression(rule=rule, scope=scope, reason=reason, expires=expires, line=line)


def _unknown(path: str = "models/w.bin", model: str = "") -> Finding:
    return finding("MG-S002", "format not recognised", path=path, model=model)


# --- scope ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("*", True),
        ("google", True),  # org of the repo
        ("google/gemma-2b", True),  # the repo
        ("gemma", True),  # the manifest entry name
        ("models/*.bin", True),  # a path glob
        ("models/w.bin", True),  # an exact path
        ("Google", False),  # exact and case-sensitive, like allowed-orgs
        ("goog", False),
        ("google/gemma", False),
        ("other/*.bin", False),
        ("*.pt", False),
        ("", False),
    ],
)
def test_scope_matching(scope: str, expected: bool) -> None:
    assert scope_matches(scope, model="gemma", repo="google/gemma-2b", path="models/w.bin") is expected


def test_glob_matches_a_path_written_with_leading_dot_slash() -> None:
    assert scope_matches("models/*.bin", path="./models/w.bin")


# --- applying ---------------------------------------------------------------------------------


def test_matching_suppression_marks_the_finding_and_keeps_it() -> None:
    [out] = apply_suppressions([_unknown()], _policy(_s()), today=TODAY)
    assert out.suppressed
    assert out.suppression_reason == "vendor blob reviewed (until 2026-12-31; org-policy.toml:14)"
    assert (out.rule, out.message, out.path) == ("MG-S002", "format not recognised", "models/w.bin")


def test_other_rule_or_scope_is_not_suppressed() -> None:
    policy = _policy(_s(rule="MG-S001"), _s(scope="other-org"))
    [out] = apply_suppressions([_unknown()], policy, today=TODAY, repo="google/gemma-2b")
    assert not out.suppressed


def test_scope_uses_the_model_and_repo_given_by_the_caller() -> None:
    policy = _policy(_s(scope="google"))
    [kept] = apply_suppressions([_unknown()], policy, today=TODAY)
    [hit] = apply_suppressions([_unknown()], policy, today=TODAY, model="gemma", repo="google/gemma-2b")
    assert not kept.suppressed and hit.suppressed


def test_scope_defaults_to_the_findings_own_model() -> None:
    [out] = apply_suppressions([_unknown(model="embedder")], _policy(_s(scope="embedder")), today=TODAY)
    assert out.suppressed


def test_suppression_is_in_force_on_its_expiry_day() -> None:
    [out] = apply_suppressions([_unknown()], _policy(_s(expires="2026-06-01")), today=TODAY)
    assert out.suppressed


def test_expired_suppression_is_a_finding_naming_the_policy_line() -> None:
    policy = _policy(_s(expires="2026-05-31", line=22))
    out = apply_suppressions([_unknown(), _unknown(path="models/x.bin")], policy, today=TODAY)
    assert [f.rule for f in out] == ["MG-S002", "MG-S002", "MG-P900"]  # reported once, after the findings
    assert not out[0].suppressed and not out[1].suppressed
    expired = out[2]
    assert expired.severity is Severity.MEDIUM and expired.location == "org-policy.toml:22"
    assert "expired on 2026-05-31" in expired.message and "MG-S002" in expired.message


def test_expired_suppression_that_covers_nothing_is_silent() -> None:
    out = apply_suppressions([finding("MG-S004", "cannot read", path="a")], _policy(_s(expires="2020-01-01")),
                             today=TODAY)
    assert [f.rule for f in out] == ["MG-S004"]


@pytest.mark.parametrize(
    ("reason", "expires", "why"),
    [("", "2026-12-31", "no reason"), ("  ", "2026-12-31", "no reason"),
     ("ok", "", "no valid expiry"), ("ok", "next year", "no valid expiry"), ("ok", "2026-13-01", "no valid expiry")],
)
def test_suppression_without_reason_or_valid_expiry_is_not_honoured(reason: str, expires: str, why: str) -> None:
    out = apply_suppressions([_unknown()], _policy(_s(reason=reason, expires=expires)), today=TODAY)
    assert [f.rule for f in out] == ["MG-S002", "MG-P901"]
    assert not out[0].suppressed and why in out[1].message


def test_a_later_valid_suppression_still_applies_after_an_expired_one() -> None:
    policy = _policy(_s(expires="2020-01-01", line=3), _s(expires="2030-01-01", line=9))
    out = apply_suppressions([_unknown()], policy, today=TODAY)
    assert out[0].suppressed and "org-policy.toml:9" in out[0].suppression_reason
    assert [f.rule for f in out] == ["MG-S002", "MG-P900"]


def test_suppression_findings_cannot_be_suppressed() -> None:
    policy = _policy(_s(expires="2020-01-01"), _s(rule="MG-P900"))
    out = apply_suppressions([_unknown()], policy, today=TODAY)
    expired = out[-1]
    assert expired.rule == "MG-P900" and not expired.suppressed
    # and applying again (a second pass over the same list) cannot hide it either
    again = apply_suppressions(out, policy, today=TODAY)
    assert not [f for f in again if f.rule == "MG-P900" and f.suppressed]


# --- in reports and the exit code -------------------------------------------------------------


def _report(findings: list[Finding]) -> Report:
    return Report(command="scan", fail_on=Severity.MEDIUM,
                  files=(FileResult("models/w.bin", "unknown", tuple(findings)),), checked=1)


def test_suppressed_finding_does_not_fail_but_stays_in_every_format() -> None:
    report = _report(apply_suppressions([_unknown()], _policy(_s()), today=TODAY))
    assert report.exit_code is ExitCode.OK
    assert report.files[0].verdict is Verdict.CLEAN
    doc = json.loads(to_json(report))
    assert_valid_report(doc)
    assert doc["findings"][0]["suppressed"] is True
    assert doc["findings"][0]["suppression-reason"].startswith("vendor blob reviewed")
    assert "(suppressed: vendor blob reviewed" in to_text(report)


def test_expired_suppression_fails_the_gate() -> None:
    report = _report(apply_suppressions([_unknown()], _policy(_s(expires="2026-01-01")), today=TODAY))
    assert report.exit_code is ExitCode.REJECTED
    assert [f.rule for f in report.failing()] == ["MG-S002", "MG-P900"]
    assert_valid_report(json.loads(to_json(report)))
