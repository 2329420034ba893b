"""Render a :class:`~modelguard.models.Report` as text (for people) or JSON (schema v1).

:func:`render` picks the format (text, json or sarif). Text is one line per finding,
``path:line:col: RULE severity: message`` (positions from :mod:`modelguard.report.anchors`, shared
with SARIF), then the per-model lines of a fetch (:func:`model_lines`), what the run was checked
against (:func:`context_line`) and one summary line (:func:`summary_line`), the same for every
command. Pure: returns strings; the CLI decides where they go. SARIF lives in
:mod:`modelguard.report.sarif`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelguard.errors import ExitCode
from modelguard.models import FileResult, Finding, ModelOutcome, Report, Severity, Verdict, fails

if TYPE_CHECKING:  # pragma: no cover - positions are placed only when a finding is shown
    from modelguard.report.anchors import Anchors

FORMATS = ("text", "json", "sarif")

SCHEMA = "modelguard/report/v1"


def _finding_json(f: Finding, *, flat: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rule": f.rule,
        "severity": f.severity.value,
        "message": f.message,
        "location": f.location,
    }
    if f.detail:
        out["detail"] = f.detail
    if f.suppressed:
        out["suppressed"] = True
        out["suppression-reason"] = f.suppression_reason
    if flat:
        out["path"] = f.path
        if f.model:
            out["model"] = f.model
    return out


def _file_json(r: FileResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "path": r.path,
        "format": r.format,
        "verdict": r.verdict.value,
        "findings": [_finding_json(f, flat=False) for f in r.findings],
    }
    if r.size is not None:
        out["size"] = r.size
    if r.sha256 is not None:
        out["sha256"] = r.sha256
    return out


def summary(report: Report) -> dict[str, int]:
    counts = {v.value: 0 for v in Verdict}
    for r in report.files:
        counts[r.verdict.value] += 1
    return {
        "files": len(report.files),
        **counts,
        "findings": len(report.all_findings()),
        "failing": len(report.failing()),
    }


def to_json(report: Report) -> str:
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "command": report.command,
        "ok": report.ok,
        "fail-on": report.fail_on.value,
        "summary": summary(report),
        "files": [_file_json(r) for r in report.files],
        "findings": [_finding_json(f, flat=True) for f in report.all_findings()],
    }
    if report.models is not None:
        doc["models"] = [m.to_json() for m in report.models]
    for key, value in report.extra.items():
        doc.setdefault(key, value)
    import json  # only JSON output needs it (~3 ms of start-up for the text report)

    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def finding_line(f: Finding, anchors: Anchors | None = None) -> str:
    """``path:line:col: RULE severity: [subject: ]message [where]``, the form ruff, flake8 and compilers print.

    The subject (``model:file``, a model, a file) is said when the position is not in the file the
    finding is about (a verify finding points at the model's lockfile line), so it is never lost.
    """
    from modelguard.report.anchors import detail_location, position, subject

    pos = position(f, anchors)
    about = subject(f, pos)
    about = "" if about in f.message else about
    where = detail_location(f, pos)
    text = f"{pos}: {f.rule} {f.severity.value}: {about + ': ' if about else ''}{f.message}"
    if where:
        text += f" [{where}]"
    if f.suppressed:
        text += f" (suppressed: {f.suppression_reason})"
    return text


def render(report: Report, fmt: str, *, verbose: bool = False, quiet: bool = False,
           anchors: Anchors | None = None, category: str = "") -> str:
    """``report`` as ``text``, ``json`` or ``sarif`` (``anchors``: where findings point; ``category``: the
    SARIF run's category, default ``modelguard/<command>``)."""
    if fmt == "json":
        return to_json(report)
    if fmt == "sarif":
        from modelguard.report.sarif import to_sarif

        return to_sarif(report, anchors=anchors, category=category)
    if fmt != "text":
        raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    return to_text(report, verbose=verbose, quiet=quiet, anchors=anchors)


def model_lines(models: Sequence[ModelOutcome] | None, fail_on: Severity = Severity.MEDIUM) -> list[str]:
    """One line per locked model: what happened to it and, when it is not usable, the file and rule why."""
    lines = []
    for m in models or ():
        why = m.reason or _first_failure(m, fail_on)
        lines.append(f"{m.status.value.upper():<17} {m.name}  {m.repo}@{m.commit[:12]}" + (f"  ({why})" if why else ""))
    return lines


def refusal_reason(found: Sequence[Finding]) -> str:
    """Why a model was refused, in one line: the file (when one), rule and message of the most severe
    of ``found`` (the first of those), and how many more there are."""
    first = max(found, key=lambda f: f.severity.rank)
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return f"{first.path + ': ' if first.path else ''}{first.rule} {first.message}{more}"


def _first_failure(m: ModelOutcome, fail_on: Severity) -> str:
    """:func:`refusal_reason` of the findings that fail the model (its files' and its own), or ""."""
    from modelguard.report.anchors import is_file_line

    found = [f.at(path=r.path) for r in m.files for f in r.findings if fails(f, fail_on)]
    # a model's own findings may carry its lockfile anchor ("modelguard.lock:8") as path: not a file of it
    found += [f.at(path="" if is_file_line(f.path) else f.path) for f in m.findings if fails(f, fail_on)]
    return refusal_reason(found) if found else ""


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def summary_line(report: Report) -> str:
    """The last line of every text report; its first word is the exit code in words: OK, FAILED or NO VERDICT."""
    s = summary(report)
    code = report.exit_code
    verdict = "OK" if code is ExitCode.OK else ("FAILED" if code is ExitCode.REJECTED else "NO VERDICT")
    # Integrity failures: bytes or Hub metadata that differ from what was locked (not "no answer" ones).
    integrity = sum(1 for f in report.failing() if f.rule.startswith("MG-H") and f.verdict is not Verdict.UNSCANNABLE)
    broken = f", {_n(integrity, 'integrity failure')}" if integrity else ""
    return (f"{verdict}: {_n(s['files'], 'file')} — {s['clean']} clean, {s['suspicious']} suspicious, "
            f"{s['malicious']} malicious, {s['unscannable']} unscannable; {_n(s['findings'], 'finding')}, "
            f"{s['failing']} at or above {report.fail_on.value}{broken}")


def context_line(report: Report) -> str:
    """What the verdict was reached against: the policy (and its file) and the verified cache."""
    parts = []
    policy = report.extra.get("policy")
    if isinstance(policy, dict):
        source = policy.get("source")
        shown = f"policy: {source}" if source else "policy: none (no modelguard.toml here; --manifest FILE names one)"
        if policy.get("frozen"):  # deployed from the lock alone: which policy, by hash (issue 15)
            shown += f" (sha256 {str(policy.get('sha256'))[:12]}, --frozen: the lockfile alone)"
        parts.append(shown)
    cache = report.extra.get("cache")
    if cache:
        parts.append(f"cache: {cache}")
    return "; ".join(parts)


def to_text(report: Report, *, verbose: bool = False, quiet: bool = False, anchors: Anchors | None = None) -> str:
    """Findings, one line each, then (fetch, or verify with ``verbose``) one line per model, what the
    run was checked against, and one summary line.

    ``verbose`` also lists every file with its verdict (clean ones too) and each finding's detail.
    ``quiet`` keeps only what makes the run fail (findings at or above ``fail-on``, unsuppressed) and
    the summary: what ``-q`` promises.
    """
    lines: list[str] = []
    if verbose and not quiet:
        lines.extend(f"{r.verdict.value.upper():<11} {r.path}  ({r.format})" for r in report.files)
    for f in report.all_findings():
        if quiet and not fails(f, report.fail_on):
            continue
        lines.append(finding_line(f, anchors))
        if verbose and f.detail:
            lines.extend("    " + d for d in f.detail.splitlines())
    if not quiet:
        shown_models = report.models if report.command == "fetch" or verbose else None
        if lines:
            lines.append("")
        lines.extend(model_lines(shown_models, report.fail_on))
        context = context_line(report)
        if context:
            lines.append(context)
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def _fails(report: Report, f: Finding) -> bool:
    return fails(f, report.fail_on)
