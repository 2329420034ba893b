"""Evaluate the trust policy over one model's files: scan each file, then apply the policy to it.

Owns the policy rules about file content (``MG-P010``..``MG-P099``): require-safetensors,
unknown-formats (raises informational unknown-binary findings, MG-S005, to failing ones),
trust-remote-code (deny / allow-pinned with per-file SHA-256 pins), allowed-file-types,
max-file-size, and the scoping of ``[[policy.safe-globals]]`` to an org or repo before they reach
the pickle scanner. Org allow/deny checks (``MG-P001``..``MG-P009``) belong to
:func:`modelguard.spec.policy.check_org`; :func:`model_findings` only calls it.

Every finding names the policy line it comes from (``modelguard.toml:7``). Pure apart from
reading the file it is asked to scan; never downloads, never admits, never loads what it scans.
A config's ``auto_map`` is read from the scanner's findings
(:func:`modelguard.scan.jsonconfig.auto_map_findings`), never by parsing the file a second time.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from modelguard import clock
from modelguard.models import FileResult, Finding
from modelguard.report.rules import finding
from modelguard.spec.types import HFModelSpec, LockedHFModel, Policy

# Formats a loader unpickles (or that wrap a stream a loader commonly unpickles: joblib and
# torch both write compressed pickles). Under require-safetensors each is a finding.
PICKLE_FAMILY = frozenset(
    {
        "pickle", "joblib", "pytorch-zip", "pytorch-legacy", "pytorch-tar", "torchscript",
        "gzip", "bzip2", "xz", "lz4", "zlib", "zstd", "pytorch-dcp-shard",
    }
)

def where(policy: Policy, key: str) -> str:
    """``source:line`` of a policy key, for findings (just the source when the line is unknown)."""
    source = policy.source or "policy"
    line = policy.line_of(key)
    return f"{source}:{line}" if line else source


def safe_globals_for(policy: Policy, repo: str) -> tuple[tuple[str, str], ...]:
    """Pickle globals the policy adds for ``repo``: scope ``*``, the repo's org, or the repo itself."""
    org = repo.split("/", 1)[0]
    return tuple(
        sorted({(g.module, g.name) for g in policy.safe_globals if g.scope in ("*", org, repo)})
    )


def model_findings(
    policy: Policy, locked: LockedHFModel, *, spec: HFModelSpec | None = None, manifest_path: str = ""
) -> list[Finding]:
    """Policy findings about the model as a whole (its org), from ``policy.check_org``.

    The org is always the locked repo's (what will be downloaded), never the manifest's wish;
    the manifest entry only lends its line number to the finding.
    """
    from modelguard.spec.policy import check_org

    line = spec.line if spec is not None and spec.name == locked.name else 0
    spec = HFModelSpec(name=locked.name, repo=locked.repo, revision=locked.requested_revision, line=line)
    found = check_org(policy, spec, manifest_path=manifest_path)
    return [] if found is None else [found.at(model=locked.name)]


def _is_custom_code(rel_path: str, fmt: str) -> bool:
    return fmt == "python" or rel_path.endswith(".py")


def _pin_for(policy: Policy, repo: str, rel_path: str) -> tuple[str, int] | None:
    for pin in policy.remote_code:
        if pin.repo != repo:
            continue
        for path, sha256 in pin.files:
            if path == rel_path:
                return sha256.lower(), pin.line
    return None


def _remote_code_findings(
    policy: Policy, repo: str, rel_path: str, fmt: str, sha256: str, scanned: Sequence[Finding]
) -> list[Finding]:
    out: list[Finding] = []
    mode = policy.trust_remote_code
    if _is_custom_code(rel_path, fmt):
        if mode != "allow-pinned":
            out.append(finding(
                "MG-P011",
                f"custom code {rel_path} is refused: trust-remote-code = {mode!r}",
                location=where(policy, "trust-remote-code"),
            ))
        else:
            pin = _pin_for(policy, repo, rel_path)
            if pin is None:
                out.append(finding(
                    "MG-P012",
                    f"custom code {rel_path} has no [[policy.remote-code]] pin for {repo}",
                    location=where(policy, "trust-remote-code"),
                ))
            elif pin[0] != sha256:
                source = policy.source or "policy"
                out.append(finding(
                    "MG-P012",
                    f"custom code {rel_path} has sha256 {sha256}, the policy pins {pin[0]}",
                    location=f"{source}:{pin[1]}" if pin[1] else source,
                ))
    elif fmt == "json" or rel_path.endswith(".json"):
        from modelguard.scan.jsonconfig import auto_map_findings

        auto_map = auto_map_findings(scanned)
        if auto_map and mode != "allow-pinned":
            out.append(finding(
                "MG-P011",
                f"{rel_path} has an auto_map (custom code on load): trust-remote-code = {mode!r}",
                location=where(policy, "trust-remote-code"),
            ))
        foreign = [f.message for f in auto_map if f.rule == "MG-S312"]
        if foreign and mode == "allow-pinned":
            out.append(finding(
                "MG-P013",
                f"{rel_path} auto_map loads code from another repo: {'; '.join(foreign)}",
                location=where(policy, "trust-remote-code"),
            ))
    return out


def file_findings(
    policy: Policy, repo: str, rel_path: str, fmt: str, size: int, sha256: str, scanned: Sequence[Finding] = ()
) -> list[Finding]:
    """The policy's findings about one file whose format was detected by content; ``scanned`` are the
    scanner's findings about it (the policy reads a config's auto_map from them)."""
    out: list[Finding] = []
    if policy.max_file_size is not None and size > policy.max_file_size:
        out.append(finding(
            "MG-P014",
            f"{rel_path} is {size} bytes, above max-file-size = {policy.max_file_size}",
            location=where(policy, "max-file-size"),
        ))
    if policy.allowed_file_types and fmt not in policy.allowed_file_types:
        out.append(finding(
            "MG-P015",
            f"{rel_path} is {fmt}, not in allowed-file-types ({', '.join(policy.allowed_file_types)})",
            location=where(policy, "allowed-file-types"),
        ))
    if policy.require_safetensors and fmt in PICKLE_FAMILY:
        out.append(finding(
            "MG-P010",
            f"{rel_path} is {fmt} (pickle family) and require-safetensors = true",
            location=where(policy, "require-safetensors"),
        ))
    out.extend(_remote_code_findings(policy, repo, rel_path, fmt, sha256, scanned))
    return out


def scan_and_evaluate(
    path: Path, *, policy: Policy, repo: str, rel_path: str, display: str, size: int, sha256: str
) -> FileResult:
    """Scan one file (with the policy's safe globals for this repo), then apply the policy to it."""
    from modelguard.scan import scan_file

    scanned = scan_file(path, extra_safe_globals=safe_globals_for(policy, repo), display_path=display)
    found = list(scanned.findings)
    if policy.unknown_formats == "fail":
        from modelguard.scan.unknown import escalate

        found = escalate(found)
    extra = file_findings(policy, repo, rel_path, scanned.format, size, sha256, scanned.findings)
    return FileResult(
        path=display,
        format=scanned.format,
        findings=(*found, *extra),
        size=size,
        sha256=sha256,
    )


def with_suppressions(policy: Policy, result: FileResult, *, repo: str, model: str | None = None) -> FileResult:
    """``result`` with the policy's ``[[policy.suppress]]`` entries applied as of today.

    Applied at decision and report time, never stored: admission records keep the raw findings,
    so a suppression that expires tomorrow stops suppressing tomorrow without a re-scan.
    """
    if not policy.suppressions:
        return result

    from modelguard.trust.suppress import apply_suppressions

    findings = apply_suppressions(result.findings, policy, today=clock.today(), model=model, repo=repo,
                                  path=result.path.split(":", 1)[-1])
    return replace(result, findings=tuple(findings))


def suppressed_findings(
    policy: Policy, findings: Iterable[Finding], *, repo: str, model: str | None = None
) -> list[Finding]:
    """Model-level findings with the policy's suppressions applied as of today."""
    found = list(findings)
    if not policy.suppressions:
        return found

    from modelguard.trust.suppress import apply_suppressions

    return apply_suppressions(found, policy, today=clock.today(), model=model, repo=repo)


@functools.cache
def scanner_fingerprint() -> str:
    """Identifies the scanner that produced a verdict: the package version plus a hash of the
    scanner sources and the rule table. A different fingerprint makes verify re-scan. Computed once
    per process: the code a process scans with is the code it imported, whatever changes on disk later."""
    from modelguard import __version__

    package = Path(__file__).resolve().parent.parent
    # the rule table and the data modules spliced into it (rule.py, format_rules.py, detection_rules.py)
    files: Iterable[Path] = [*sorted((package / "scan").rglob("*.py")), *sorted((package / "report").glob("*rule*.py"))]
    h = hashlib.sha256()
    for f in files:
        h.update(os.fsencode(f.relative_to(package).as_posix()) + b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return f"{__version__}+{h.hexdigest()[:16]}"
