"""Every rule modelguard can report: id, default severity, verdict, one-line title and help.

Families: ``MG-S`` scan, ``MG-H`` integrity, ``MG-P`` policy, ``MG-L`` lockfile.
Each rule has a test that triggers it (tests/test_rules.py checks that every id here is
exercised somewhere in tests/). Pure data; no I/O.

Findings are made with :func:`finding`, never by hand, so severity and verdict always
come from this one table.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelguard.models import Finding, Severity, Verdict


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    verdict: Verdict
    title: str
    help: str


_C, _H, _M, _L, _I = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO
_MAL, _SUS, _UNS = Verdict.MALICIOUS, Verdict.SUSPICIOUS, Verdict.UNSCANNABLE

_ALL: list[Rule] = [
    # ---- MG-S0xx: scanning in general ------------------------------------------------------
    Rule("MG-S001", _H, _UNS, "File could not be parsed",
         "The file is truncated or malformed for the format its content claims; a loader may still "
         "read part of it, so it cannot be called clean. Re-download it or get it from the publisher."),
    Rule("MG-S002", _M, _UNS, "Unrecognised binary format",
         "modelguard cannot tell whether a loader would run code from this file. Remove it, convert "
         "the model to safetensors, or allow the file type explicitly in the policy."),
    Rule("MG-S003", _H, _UNS, "Scan limit exceeded",
         "The file exceeds a safety limit (decompression ratio, nesting depth, member count, structure "
         "size). Archive and pickle bombs look like this; inspect the file by hand."),
    Rule("MG-S004", _H, _UNS, "File unreadable",
         "The file could not be read (permissions, I/O error). Fix access and scan again."),
    # ---- MG-S1xx: pickle -------------------------------------------------------------------
    # (pickle analyser rules go here)

    # ---- MG-S2xx: containers (zip, torch, numpy, joblib, archives, compression) -----------
    # (container rules go here)

    # ---- MG-S3xx..S7xx: code and other formats ---------------------------------------------
    # (safetensors, python code, config auto_map, keras, gguf, onnx rules go here)

    # ---- MG-H: integrity -------------------------------------------------------------------
    # (hash, size, missing/extra file, commit rules go here)

    # ---- MG-P0xx: trust policy -------------------------------------------------------------
    # (org, file type, remote code, size rules go here)

    # ---- MG-P2xx: provider models ----------------------------------------------------------
    # (alias, deprecation, retirement, lint rules go here)
    Rule("MG-P201", _M, _SUS, "Floating provider model alias in use",
         "The model ID is an alias the provider can move to a new snapshot at any time; pin the dated or "
         "versioned ID that `modelguard lock` resolved, or allow aliases in the policy on purpose."),
    Rule("MG-P202", _H, _SUS, "Floating alias cannot be pinned",
         "modelguard could not resolve this alias to a snapshot and the policy forbids floating aliases; write "
         "a dated ID in the manifest, run `modelguard lock --online`, or set allow-floating-aliases = true."),
    Rule("MG-P203", _M, _SUS, "Provider model deprecated",
         "The provider announced this model's retirement; migrate to the replacement before the date. Medium "
         "within the policy's deprecation window, low before it."),
    Rule("MG-P204", _H, _SUS, "Provider model retired",
         "The provider no longer serves this model (its retirement date has passed); calls fail. Move to the "
         "replacement and lock again."),
    Rule("MG-P205", _I, _SUS, "Provider catalog is old",
         "modelguard's built-in provider catalog is older than its freshness window; upgrade modelguard or use "
         "`verify --remote` for current lifecycle data."),
    Rule("MG-P206", _M, _SUS, "Model ID not in the lockfile",
         "Application code uses a provider model ID the lockfile does not pin; add it to modelguard.toml as a "
         "[[provider-model]] and run `modelguard lock`, or use the locked ID."),
    Rule("MG-P207", _M, _SUS, "Alias resolution changed since lock",
         "The alias now points to a different snapshot than the one locked; code that calls the alias changed "
         "behaviour. Review the new snapshot and lock again."),
    Rule("MG-P208", _H, _SUS, "Unknown provider model ID",
         "Neither the catalog nor the provider knows this model ID (typo, retired, or not yet catalogued); "
         "check the ID against the provider's model list."),

    # ---- MG-L: lockfile --------------------------------------------------------------------
    # (stale, missing, version, signature rules go here)

    # ---- MG-P9xx: suppressions
    Rule("MG-P900", _M, _SUS, "Suppression expired",
         "A [[policy.suppress]] entry is past its expiry date, so the finding it covered counts again. "
         "Fix the underlying finding, or review it and renew the entry with a new expires date."),
    Rule("MG-P901", _M, _SUS, "Suppression cannot be applied",
         "A [[policy.suppress]] entry has no reason or no valid ISO expires date (YYYY-MM-DD), so it is "
         "ignored and the finding it covered counts. Give every suppression a reason and an expiry."),
]

RULES: dict[str, Rule] = {r.id: r for r in _ALL}
if len(RULES) != len(_ALL):  # pragma: no cover - caught at import in every test run
    raise RuntimeError("duplicate rule id in modelguard.rules")


def finding(
    rule_id: str,
    message: str,
    *,
    location: str = "",
    detail: str = "",
    severity: Severity | None = None,
    path: str = "",
    model: str = "",
) -> Finding:
    """Make a finding of ``rule_id``; severity defaults to the rule's, verdict is the rule's."""
    rule = RULES[rule_id]
    return Finding(
        rule=rule.id,
        severity=rule.severity if severity is None else severity,
        message=message,
        location=location,
        detail=detail,
        verdict=rule.verdict,
        path=path,
        model=model,
    )
