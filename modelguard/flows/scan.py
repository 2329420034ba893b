"""``scan`` under the project's policy: what ``verify`` would say about these files, without a lockfile.

Finds the policy (the manifest named with ``manifest=``, else ``modelguard.toml`` in the working
directory, else none), scans each file with the policy's pickle allowlist additions, then applies
the file-level policy (require-safetensors, allowed-file-types, max-file-size, trust-remote-code
deny) and the suppressions, exactly as fetch and verify apply them to a model's files. The report
says which policy it used (``extra["policy"]``), so a clean scan can never be mistaken for one
that applied a policy it did not find.

Scoped rules need a repository to apply: a ``[[policy.safe-globals]]`` entry or a remote-code pin
scoped to an org or repo is not applied to a loose file (only ``scope = "*"`` allowlist additions
are), which can only add findings, never hide one. Must not render, print or write anything.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from modelguard.errors import ConfigError
from modelguard.models import FileResult, Report, Severity
from modelguard.spec import filenames

if TYPE_CHECKING:  # spec.types costs start-up time a scan without a manifest does not need
    from modelguard.spec.types import Policy

PathLike = str | os.PathLike[str]

_REPO_SCOPED = frozenset({"MG-P012", "MG-P013"})
"""Remote-code rules that compare against pins of one repository: a loose file belongs to none."""


def find_policy(manifest: PathLike | None) -> tuple[Policy | None, dict[str, str]]:
    """(policy, where it came from) for a scan: the named manifest (which must exist), else
    ``modelguard.toml`` in the working directory, else (None, no source)."""
    if manifest is None:
        if not os.path.isfile(filenames.MANIFEST):
            return None, {"source": "", "sha256": ""}
        manifest = filenames.MANIFEST
    from modelguard.spec.manifest import load_manifest
    from modelguard.spec.policy import describe

    path = os.fspath(manifest)
    if not os.path.isfile(path):
        raise ConfigError(f"no manifest at {path}; check --manifest, or run where modelguard.toml is")
    parsed = load_manifest(path)
    return parsed.policy, describe(parsed.policy, path)


def scan(paths: Sequence[PathLike], *, manifest: PathLike | None = None, fail_on: Severity | None = None,
         use_policy: bool = True) -> Report:
    """Scan ``paths`` and apply the policy found for them; see the module docstring."""
    from modelguard.scan import scan_paths

    policy, where = find_policy(manifest) if use_policy else (None, {"source": "", "sha256": ""})
    if policy is None:
        report = scan_paths(list(paths), fail_on=fail_on or Severity.MEDIUM)
        return replace(report, extra={**report.extra, "policy": where})
    safe = [(g.module, g.name) for g in policy.safe_globals if g.scope == "*"]
    report = scan_paths(list(paths), fail_on=fail_on or policy.fail_on, extra_safe_globals=safe)
    files = tuple(_apply(policy, r) for r in report.files)
    from modelguard.spec.policy import policy_findings

    return replace(report, files=files, findings=(*report.findings, *policy_findings(policy)),
                   extra={**report.extra, "policy": where})


def _apply(policy: Policy, result: FileResult) -> FileResult:
    from modelguard.trust.evaluate import file_findings, with_suppressions

    extra = [f for f in file_findings(policy, "", result.path, result.format, result.size or 0, "", result.findings)
             if f.rule not in _REPO_SCOPED]
    return with_suppressions(policy, replace(result, findings=(*result.findings, *extra)), repo="")
