"""Render a :class:`~modelguard.models.Report` as SARIF 2.1.0 for code-scanning services.

Owns: the SARIF document (one run), rule metadata for every ``MG-`` rule, the severity ->
``level`` / ``security-severity`` mapping, anchoring each finding to a real file and line of
the repository, and the fingerprints that let a service match a finding across runs.

Must not: read or hash model files, decide exit codes, or put anything run-specific (absolute
temp paths, times) into fingerprints. Pure apart from :func:`os.getcwd` as the default root and
checks that a file exists before anchoring to it.

Anchoring, in order (the first that applies wins):

1. a finding whose ``location`` (or ``path``) is ``FILE:LINE`` (a lockfile, manifest or policy
   line) -> that file, line;
2. a finding about a locked model -> the lockfile line of the model's entry (``verify``);
3. a finding about a file (``scan``, ``lint``; for a model's file, only when it is a real file)
   -> that file, at ``line N`` when the location says so, else line 1 (code-scanning services
   require a start line);
4. a finding about a model that is not locked -> its manifest line; else the lockfile, the
   manifest, or ``modelguard.lock`` / ``modelguard.toml`` at the root, line 1.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from modelguard.models import Finding, Report, Severity, Verdict
from modelguard.report.rules import RULES, Rule
from modelguard.spec import filenames
from modelguard.spec.types import Lockfile, Manifest

__all__ = ["SECURITY_SEVERITY", "SarifAnchors", "to_sarif"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "modelguard"
INFORMATION_URI = "https://github.com/modelguard/modelguard"
"""The project's home page, shown by code-scanning UIs next to the tool name."""
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

_FILE_LINE = re.compile(r"^(?P<file>.+):(?P<line>[1-9][0-9]*)$")
_LINE_WORD = re.compile(r"\bline (?P<line>[1-9][0-9]*)\b")


@dataclass(frozen=True)
class SarifAnchors:
    """Where in the repository findings are anchored. Paths may be absolute or relative to
    the working directory; URIs in the SARIF are made relative to ``base_dir`` (``%SRCROOT%``).
    """

    base_dir: str = ""
    """the repository root (default: the working directory)"""
    lockfile_path: str = ""
    manifest_path: str = ""
    lines: Mapping[str, int] = field(default_factory=dict)
    """model entry name -> 1-based line of its entry in the lockfile"""
    manifest_lines: Mapping[str, int] = field(default_factory=dict)
    """model entry name -> 1-based line of its entry in the manifest"""

    @classmethod
    def for_lock(
        cls,
        lockfile: Lockfile,
        lockfile_path: str,
        *,
        manifest: Manifest | None = None,
        base_dir: str = "",
    ) -> SarifAnchors:
        """Anchors for ``verify``: the lockfile's entry lines, and the manifest's if given."""
        manifest_lines: dict[str, int] = {}
        if manifest is not None:
            for name, line in [(m.name, m.line) for m in manifest.hf_models] + [
                (m.name, m.line) for m in manifest.provider_models
            ]:
                if line:
                    manifest_lines[name] = line
        return cls(
            base_dir=base_dir,
            lockfile_path=lockfile_path,
            manifest_path=manifest.path if manifest is not None else "",
            lines=dict(lockfile.lines),
            manifest_lines=manifest_lines,
        )


def to_sarif(report: Report, *, anchors: SarifAnchors | None = None) -> str:
    """The SARIF 2.1.0 log (JSON text) of ``report``: one run, every rule, every finding."""
    anchors = anchors or SarifAnchors()
    root = os.path.abspath(anchors.base_dir or os.getcwd())
    rules = list(RULES.values())
    index = {r.id: i for i, r in enumerate(rules)}
    results = [_result(f, report, anchors, root, index) for f in report.all_findings()]
    # No automationDetails: upload-sarif's ``category`` input must decide the category, and an
    # id already in the log would silently override it.
    run: dict[str, Any] = {
        "tool": {"driver": _driver(rules, report.fail_on)},
        "invocations": [_invocation(report, root)],
        "results": results,
        "columnKind": "unicodeCodePoints",
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
        "informationUri": INFORMATION_URI,
        "rules": [_rule(r, fail_on) for r in rules],
    }


def _rule(rule: Rule, fail_on: Severity) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": _pascal(rule.title),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.help},
        "help": {"text": rule.help, "markdown": f"**{rule.id}: {rule.title}**\n\n{rule.help}"},
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


def _result(f: Finding, report: Report, anchors: SarifAnchors, root: str, index: Mapping[str, int]) -> dict[str, Any]:
    anchor, line = _anchor(f, anchors, root)
    result: dict[str, Any] = {
        "ruleId": f.rule,
        "level": _level(f.severity, report.fail_on),
        "message": {"text": _message(f)},
        "locations": [{"physicalLocation": _physical(anchor, line, root)}],
        "partialFingerprints": {FINGERPRINT_KEY: _fingerprint(f, anchor, root)},
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


def _message(f: Finding) -> str:
    subject = []
    if f.model:
        subject.append(f"model {f.model!r}")
    if f.path:
        subject.append(f.path)
    text = f"{': '.join(subject)}: {f.message}" if subject else f.message
    if f.location and f.location not in f.message and f.location != f.path:
        text += f" [{f.location}]"
    if f.detail:
        text += f"\n\n{f.detail}"
    return text


def _anchor(f: Finding, anchors: SarifAnchors, root: str) -> tuple[str, int]:
    """(path as given, 1-based line) of the real repository file this finding points at."""
    m = _FILE_LINE.match(f.location) or _FILE_LINE.match(f.path)
    if m:
        return m.group("file"), int(m.group("line"))
    if f.model and anchors.lockfile_path and anchors.lines.get(f.model):
        return anchors.lockfile_path, anchors.lines[f.model]
    if f.path and (not f.model or os.path.isfile(f.path)):  # verify's "model:file" is no repository file
        words = _LINE_WORD.search(f.location)
        return f.path, int(words.group("line")) if words else 1
    if f.model and anchors.manifest_path and anchors.manifest_lines.get(f.model):
        return anchors.manifest_path, anchors.manifest_lines[f.model]
    for fallback in (anchors.lockfile_path, anchors.manifest_path):
        if fallback:
            return fallback, 1
    for default in (filenames.LOCKFILE, filenames.MANIFEST):
        if os.path.isfile(os.path.join(root, default)):
            return os.path.join(root, default), 1
    return f.location or ".", 1


def _relative_uri(path: str, root: str) -> tuple[str, bool]:
    """(URI, whether it is relative to ``root``) for a path as given on the command line."""
    full = os.path.abspath(path)  # relative paths in reports are relative to the working directory
    rel = os.path.relpath(full, root)
    if rel == ".." or rel.startswith(".." + os.sep):
        return Path(full).as_uri(), False
    return _quote(rel.replace(os.sep, "/")), True


def _physical(path: str, line: int, root: str) -> dict[str, Any]:
    uri, relative = _relative_uri(path, root)
    artifact: dict[str, Any] = {"uri": uri}
    if relative:
        artifact["uriBaseId"] = SRCROOT
    return {"artifactLocation": artifact, "region": {"startLine": line}}


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
            note["locations"] = [{"physicalLocation": _physical(r.path, 1, root)}]
        if reasons:
            note["descriptor"] = {"id": reasons[0].rule}
        notes.append(note)
    return {"executionSuccessful": report.checked > 0, "toolExecutionNotifications": notes}


def _run_properties(report: Report) -> dict[str, Any]:
    from modelguard.report.text import SCHEMA, summary

    return {
        "report-schema": SCHEMA,
        "command": report.command,
        "ok": report.ok,
        "fail-on": report.fail_on.value,
        "summary": summary(report),
    }
