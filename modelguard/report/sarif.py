"""Render a :class:`~modelguard.models.Report` as SARIF 2.1.0 for code-scanning services.

Owns: the SARIF document (one run), rule metadata for every ``MG-`` rule, the severity ->
``level`` / ``security-severity`` mapping, anchoring each finding to a real file and line of
the repository, and the fingerprints that let a service match a finding across runs.

Must not: read or hash model files, decide exit codes, or put anything run-specific (absolute
temp paths, times) into fingerprints. Pure apart from :func:`os.getcwd` as the default root and
checks that a file exists before anchoring to it.

Results point where :func:`modelguard.report.anchors.position` says (the text report points at the
same place); a binary file's finding also carries the byte offset when the scanner knows it.

Severity mapping (``properties.security-severity``, the CVSS-like score GitHub ranks alerts
by): critical 9.5, high 8.0, medium 5.5, low 3.0, info 0.0. ``level`` depends on the run's
``--fail-on``: a finding that fails the run is ``error``, any other is ``warning``, ``info``
findings are ``note``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from modelguard.errors import ExitCode
from modelguard.models import Finding, Report, Severity, Verdict
from modelguard.report.anchors import Anchors, Position, detail_location, position, subject
from modelguard.report.links import project_url, rule_help_uri
from modelguard.report.rules import RULES, Rule

__all__ = ["SECURITY_SEVERITY", "SarifAnchors", "to_sarif"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "modelguard"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "modelguardFinding/v1"

SECURITY_SEVERITY: Mapping[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}

_PROBLEM_SEVERITY: Mapping[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "recommendation",
    Severity.INFO: "recommendation",
}

_FAMILY_TAGS: Mapping[str, str] = {
    "MG-S": "scan",
    "MG-H": "integrity",
    "MG-P2": "provider-model",
    "MG-P9": "suppression",
    "MG-P": "policy",
    "MG-L": "lockfile",
}



SarifAnchors = Anchors
"""The name this class had when only SARIF used it."""


def to_sarif(report: Report, *, anchors: Anchors | None = None, category: str = "") -> str:
    """The SARIF 2.1.0 log (JSON text) of ``report``: one run, every rule, every finding."""
    anchors = anchors or Anchors()
    root = os.path.abspath(anchors.base_dir or os.getcwd())
    rules = list(RULES.values())
    index = {r.id: i for i, r in enumerate(rules)}
    results = [_result(f, report, anchors, root, index) for f in report.all_findings()]
    run: dict[str, Any] = {
        "tool": {"driver": _driver(rules, report.fail_on)},
        "invocations": [_invocation(report, root)],
        "results": results,
        "columnKind": "unicodeCodePoints",
        # The category (SARIF 3.17.4: a trailing "/" means no run id): code scanning keeps one analysis
        # per category, so verify's and scan's alerts do not close each other's. upload-sarif keeps an
        # id already in the log, so a workflow separates two lockfiles with --sarif-category.
        "automationDetails": {"id": f"{category.strip('/') or 'modelguard/' + report.command}/"},
        "properties": {"modelguard": _run_properties(report)},
    }
    artifacts = [_artifact(r.path, r.format, r.verdict, r.sha256, root) for r in report.files]
    if artifacts:
        run["artifacts"] = artifacts
    doc = {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}
    return json.dumps(doc, indent=2) + "\n"


# --- the tool and its rules ------------------------------------------------------------------


def _tool_version() -> str:
    from modelguard import __version__

    return __version__


def _driver(rules: list[Rule], fail_on: Severity) -> dict[str, Any]:
    return {
        "name": TOOL_NAME,
        "version": _tool_version(),
        "semanticVersion": _tool_version(),
        "informationUri": project_url(),
        "rules": [_rule(r, fail_on) for r in rules],
    }


def _rule(rule: Rule, fail_on: Severity) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": _pascal(rule.title),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.help},
        "help": {"text": rule.help, "markdown": f"**{rule.id}: {rule.title}**\n\n{rule.help}"},
        "helpUri": rule_help_uri(rule.id),
        "defaultConfiguration": {"level": _level(rule.severity, fail_on)},
        "properties": {
            "security-severity": SECURITY_SEVERITY[rule.severity],
            "problem.severity": _PROBLEM_SEVERITY[rule.severity],
            "severity": rule.severity.value,
            "verdict": rule.verdict.value,
            "tags": ["security", "supply-chain", _family(rule.id)],
            "precision": "high",
        },
    }


def _family(rule_id: str) -> str:
    for prefix in sorted(_FAMILY_TAGS, key=len, reverse=True):
        if rule_id.startswith(prefix):
            return _FAMILY_TAGS[prefix]
    return "other"


def _pascal(title: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", title) if w)


def _level(severity: Severity, fail_on: Severity) -> str:
    if severity.reaches(fail_on):  # suppressed findings are marked as such in the result, not by level
        return "error"
    if severity is Severity.INFO:
        return "note"
    return "warning"


# --- results ---------------------------------------------------------------------------------


def _result(f: Finding, report: Report, anchors: Anchors, root: str, index: Mapping[str, int]) -> dict[str, Any]:
    pos = position(f, anchors)
    result: dict[str, Any] = {
        "ruleId": f.rule,
        "level": _level(f.severity, report.fail_on),
        "message": {"text": _message(f, pos)},
        "locations": [{"physicalLocation": _physical(pos, root)}],
        "partialFingerprints": {FINGERPRINT_KEY: _fingerprint(f, pos.path, root)},
        "properties": {
            "severity": f.severity.value,
            "security-severity": SECURITY_SEVERITY[f.severity],
            "verdict": f.verdict.value,
        },
    }
    if f.rule in index:
        result["ruleIndex"] = index[f.rule]
    if f.location:
        result["properties"]["location"] = f.location
    if f.model:
        result["properties"]["model"] = f.model
    if f.path:
        result["properties"]["path"] = f.path
    if f.suppressed:
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": f.suppression_reason or "suppressed"}
        ]
    return result


def _message(f: Finding, pos: Position) -> str:
    """The finding's own words first (tools such as sarif-tools group results by message), then where
    inside the file, then what it is about when the location does not say it."""
    text = f.message
    where = detail_location(f, pos)
    if where and where not in f.message:
        text += f" [{where}]"
    about = subject(f, pos)
    if about and about not in f.message:
        text += f" (in {about})"
    if f.detail:
        text += f"\n\n{f.detail}"
    return text


def _relative_uri(path: str, root: str) -> tuple[str, bool]:
    """(URI, whether it is relative to ``root``) for a path as given on the command line."""
    full = os.path.abspath(path)  # relative paths in reports are relative to the working directory
    rel = os.path.relpath(full, root)
    if rel == ".." or rel.startswith(".." + os.sep):
        return Path(full).as_uri(), False
    return _quote(rel.replace(os.sep, "/")), True


def _physical(pos: Position, root: str) -> dict[str, Any]:
    uri, relative = _relative_uri(pos.path, root)
    artifact: dict[str, Any] = {"uri": uri}
    if relative:
        artifact["uriBaseId"] = SRCROOT
    # Code-scanning services require a start line, even in a binary file; SARIF lets a region carry
    # both its text and its binary coordinates (3.30.1), so the byte offset rides along when known.
    region: dict[str, Any] = {"startLine": pos.line}
    if pos.column > 1:
        region["startColumn"] = pos.column
    if pos.byte_offset is not None:
        region["byteOffset"] = pos.byte_offset
    return {"artifactLocation": artifact, "region": region}


def _quote(path: str) -> str:
    """A relative URI reference: ``:`` is escaped so ``embedder:model.bin`` is not read as a scheme."""
    return quote(path, safe="/!$&'()*+,;=@-._~")


def _fingerprint(f: Finding, anchor: str, root: str) -> str:
    """Stable across runs: rule, anchor file and finding path relative to the repository root,
    location inside the file, model. Never a time, a message wording or an absolute root."""
    path = _relative_uri(f.path, root)[0] if f.path else ""
    location = f.location
    if f.path and location.startswith(f.path):  # scanners name members after the path as given
        location = path + location[len(f.path):]
    parts = (f.rule, _relative_uri(anchor, root)[0], path, location, f.model)
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


# --- the run: files scanned, files not scanned, summary --------------------------------------


def _artifact(path: str, fmt: str, verdict: Verdict, sha256: str | None, root: str) -> dict[str, Any]:
    uri, relative = _relative_uri(path, root)
    location: dict[str, Any] = {"uri": uri}
    if relative:
        location["uriBaseId"] = SRCROOT
    out: dict[str, Any] = {"location": location, "properties": {"format": fmt, "verdict": verdict.value}}
    if sha256:
        out["hashes"] = {"sha-256": sha256}
    return out


def _invocation(report: Report, root: str) -> dict[str, Any]:
    """Files that could not be scanned are listed as notifications with the reasons, so a
    reader of the log alone can tell "not checked" from "checked and clean"."""
    notes: list[dict[str, Any]] = []
    for r in report.files:
        if r.verdict is not Verdict.UNSCANNABLE:
            continue
        reasons = [f for f in r.findings if f.verdict is Verdict.UNSCANNABLE and not f.suppressed]
        why = "; ".join(f"{f.rule} {f.message}" for f in reasons)
        note: dict[str, Any] = {
            "level": "warning",
            "message": {"text": f"{r.path}: not scanned ({r.format}): {why}"},
        }
        if os.path.isfile(r.path):
            note["locations"] = [{"physicalLocation": _physical(Position(r.path), root)}]
        if reasons:
            note["descriptor"] = {"id": reasons[0].rule}
        notes.append(note)
    # Successful: the tool reached a verdict, whatever it is (0 clean, 1 findings); 3 (no verdict) is not.
    code = int(report.exit_code)
    return {"executionSuccessful": code in (ExitCode.OK, ExitCode.REJECTED), "exitCode": code,
            "toolExecutionNotifications": notes}


def _run_properties(report: Report) -> dict[str, Any]:
    from modelguard.report.text import SCHEMA, summary

    props: dict[str, Any] = {
        "report-schema": SCHEMA,
        "command": report.command,
        "ok": report.ok,
        "fail-on": report.fail_on.value,
        "summary": summary(report),
    }
    for key in ("policy", "cache"):  # what the run was checked against, as the JSON report says it
        if key in report.extra:
            props[key] = report.extra[key]
    return props
