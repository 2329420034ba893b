"""Render a :class:`~modelguard.models.Report` as text (for people) or JSON (schema v1).

:func:`render` picks the format (text, json or sarif); :func:`model_lines` is the per-model summary
fetch prints. Pure: returns strings; the CLI decides where they go. SARIF lives in
:mod:`modelguard.report.sarif`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelguard.errors import ExitCode
from modelguard.models import FileResult, Finding, ModelOutcome, Report, Verdict, fails

if TYPE_CHECKING:
    from modelguard.report.sarif import SarifAnchors

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


def _finding_line(f: Finding) -> str:
    where = f" [{f.location}]" if f.location else ""
    mark = " (suppressed: " + f.suppression_reason + ")" if f.suppressed else ""
    return f"    {f.rule} {f.severity.value}: {f.message}{where}{mark}"


def render(report: Report, fmt: str, *, verbose: bool = False, quiet: bool = False,
           anchors: SarifAnchors | None = None) -> str:
    """``report`` as ``text``, ``json`` or ``sarif`` (``anchors``: where SARIF results point)."""
    if fmt == "json":
        return to_json(report)
    if fmt == "sarif":
        from modelguard.report.sarif import to_sarif

        return to_sarif(report, anchors=anchors)
    if fmt != "text":
        raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    return to_text(report, verbose=verbose, quiet=quiet)


def model_lines(models: Sequence[ModelOutcome] | None) -> list[str]:
    """One line per locked model: what happened to it and why (fetch's closing summary)."""
    lines = []
    for m in models or ():
        why = f"  ({m.reason})" if m.reason else ""
        lines.append(f"{m.status.value.upper():<17} {m.name}  {m.repo}@{m.commit[:12]}{why}")
    return lines


def to_text(report: Report, *, verbose: bool = False, quiet: bool = False) -> str:
    """One line per file, its findings, the findings tied to no file, then one summary line.

    ``quiet`` keeps only what makes the run fail (findings at or above ``fail-on``, unsuppressed,
    under their file's line) and the summary: what ``-q`` promises. The summary's first word is the
    report's exit code in words: OK, FAILED, or NO VERDICT (nothing checked, or a model got none).
    """
    lines: list[str] = []
    for r in report.files:
        shown = [f for f in r.findings if not quiet or _fails(report, f)]
        if quiet and not shown:
            continue
        n = len(r.findings)
        count = f"  {n} finding{'s' if n != 1 else ''}" if n else ""
        lines.append(f"{r.verdict.value.upper():<11} {r.path}  ({r.format}){count}")
        for f in shown:
            lines.append(_finding_line(f))
            if verbose and f.detail:
                lines.extend("        " + d for d in f.detail.splitlines())
    loose = [f for f in report.findings if not quiet or _fails(report, f)]
    if loose:
        lines.append("")
        for f in loose:
            subject = f.model or f.path
            lines.append(f"{f.severity.value.upper():<11} {subject}: {f.rule} {f.message}"
                         + (f" [{f.location}]" if f.location else ""))
            if verbose and f.detail:
                lines.extend("        " + d for d in f.detail.splitlines())
    s = summary(report)
    code = report.exit_code
    verdict = "OK" if code is ExitCode.OK else ("FAILED" if code is ExitCode.REJECTED else "NO VERDICT")
    if lines or not quiet:
        lines.append("")
    policy = report.extra.get("policy")
    if isinstance(policy, dict):  # fetch, verify: the policy this run enforced, always said (issue 15)
        frozen = ", --frozen: the lockfile alone" if policy.get("frozen") else ""
        lines.append(f"policy: {policy.get('source')} (sha256 {str(policy.get('sha256'))[:12]}{frozen})")
    lines.append(
        f"{verdict}: {s['files']} file(s) — {s['clean']} clean, {s['suspicious']} suspicious, "
        f"{s['malicious']} malicious, {s['unscannable']} unscannable; {s['findings']} finding(s), "
        f"{s['failing']} at or above {report.fail_on.value}"
    )
    return "\n".join(lines) + "\n"


def _fails(report: Report, f: Finding) -> bool:
    return fails(f, report.fail_on)
