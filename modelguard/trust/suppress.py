"""Apply the policy's ``[[policy.suppress]]`` entries to findings.

Owns: deciding which findings a suppression covers (rule + scope), whether the suppression is
still in force (reason present, expiry not passed), and the MG-P9xx findings for suppressions
that can no longer be honoured.

Must not: read files, drop findings, or take suppressions from anywhere but the policy (an
attacker who can edit a model repo or a report must not be able to silence a finding). A
suppressed finding stays in the list, marked ``suppressed=True`` with its reason, so every
report still shows it; only the exit code ignores it.

Pure: no I/O; ``today`` is passed in so results do not depend on the clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.spec.types import Policy, Suppression

__all__ = ["apply_suppressions", "scope_matches"]

_GLOB_CHARS = frozenset("*?[")
_NEVER_SUPPRESSED = ("MG-P9", "MG-H", "MG-L", "MG-P5")
"""Rules a suppression never covers: findings about suppressions themselves (MG-P9xx), and
evidence of tampering or revocation — integrity (MG-H), the lockfile and its signature (MG-L),
revoked or badly signed models (MG-P5xx). Those are not risks a team can accept by policy: a
policy edit must not be able to wave through bytes that are not the bytes that were locked."""


@dataclass(frozen=True)
class _Subject:
    """What a finding is about, in the terms a scope can name."""

    model: str
    repo: str
    path: str

    @property
    def org(self) -> str:
        return self.repo.split("/", 1)[0] if "/" in self.repo else ""


def scope_matches(scope: str, *, model: str = "", repo: str = "", path: str = "") -> bool:
    """Whether a suppression ``scope`` covers a finding about ``model`` / ``repo`` / ``path``.

    ``"*"`` covers everything; a scope with ``*``, ``?`` or ``[`` is a path glob; a scope with
    a ``/`` is a repo (``org/name``) or an exact path; anything else is an org or a model name.
    Matching is exact and case-sensitive, like ``allowed-orgs``: ``Google`` is not ``google``.
    """
    subject = _Subject(model=model, repo=repo, path=_normal_path(path))
    scope = scope.strip()
    if not scope:
        return False
    if scope == "*":
        return True
    if _GLOB_CHARS & set(scope):
        return bool(subject.path) and fnmatchcase(subject.path, _normal_path(scope))
    if "/" in scope:
        return scope in (subject.repo, subject.path)
    return scope in (subject.org, subject.model)


def apply_suppressions(
    findings: Iterable[Finding],
    policy: Policy,
    *,
    today: dt.date,
    model: str | None = None,
    repo: str | None = None,
    path: str | None = None,
) -> list[Finding]:
    """Return ``findings`` with the ones the policy suppresses marked, plus MG-P9xx findings.

    ``model`` (the manifest entry name), ``repo`` (``org/name``) and ``path`` describe what the
    findings are about; each defaults to the finding's own ``model`` / ``path``. A suppression
    is in force up to and including its ``expires`` date. An expired suppression (MG-P900) or
    one without a reason or a valid expiry (MG-P901) suppresses nothing, and is reported once
    per call when it would have covered at least one finding: that is the moment its absence
    changes the result, and the finding names the policy line to edit.
    """
    out: list[Finding] = []
    broken: dict[int, Finding] = {}  # index in policy.suppressions -> the MG-P9xx finding
    for f in findings:
        subject = _Subject(
            model=f.model if model is None else model,
            repo=repo or "",
            path=f.path if path is None else path,
        )
        if f.rule.startswith(_NEVER_SUPPRESSED):
            out.append(f)
            continue
        applied: Finding | None = None
        for index, s in enumerate(policy.suppressions):
            if s.rule != f.rule or not scope_matches(
                s.scope, model=subject.model, repo=subject.repo, path=subject.path
            ):
                continue
            problem = _problem(s, today)
            if problem is not None:
                broken.setdefault(index, _broken_finding(s, policy, problem, f))
                continue
            applied = replace(f, suppressed=True, suppression_reason=_reason(s, policy))
            break
        out.append(applied if applied is not None else f)
    out.extend(broken[i] for i in sorted(broken))
    return out


def _problem(s: Suppression, today: dt.date) -> tuple[str, str] | None:
    """(rule, why) if ``s`` cannot be honoured today, else None."""
    if not s.reason.strip():
        return "MG-P901", "has no reason"
    try:
        expires = dt.date.fromisoformat(s.expires.strip())
    except ValueError:
        return "MG-P901", f"has no valid expiry date (expires = {s.expires!r}; use YYYY-MM-DD)"
    if today > expires:
        return "MG-P900", f"expired on {expires.isoformat()}"
    return None


def _where(s: Suppression, policy: Policy) -> str:
    source = policy.source or "policy"
    return f"{source}:{s.line}" if s.line else source


def _reason(s: Suppression, policy: Policy) -> str:
    return f"{s.reason.strip()} (until {s.expires.strip()}; {_where(s, policy)})"


def _broken_finding(s: Suppression, policy: Policy, problem: tuple[str, str], covered: Finding) -> Finding:
    rule_id, why = problem
    return finding(
        rule_id,
        f"suppression of {s.rule} for scope {s.scope!r} {why}; {covered.rule} counts again",
        location=_where(s, policy),
        path=covered.path,
        model=covered.model,
    )


def _normal_path(path: str) -> str:
    p = path.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return p
