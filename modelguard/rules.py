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
    # MG-H1xx: the verified cache (admission, snapshots, records) -- modelguard.cache / fetcher / verifier
    Rule("MG-H101", _C, _UNS, "Locked model not admitted",
         "The locked snapshot is not in the verified cache (or its admission record is missing or unreadable). "
         "Run `modelguard fetch`; loaders must not use a snapshot modelguard did not admit."),
    Rule("MG-H102", _C, _SUS, "Admitted file changed",
         "A file in the verified cache no longer has the size or SHA-256 it was admitted with. Someone or "
         "something edited the cache: evict it (`modelguard fetch` re-admits it) and find out who wrote there."),
    Rule("MG-H103", _C, _UNS, "Admitted file missing",
         "A locked file is missing from the admitted snapshot. Run `modelguard fetch` to re-admit it."),
    Rule("MG-H104", _C, _SUS, "Unexpected file in the verified cache",
         "The admitted snapshot holds a file the lock does not list; a loader could read it. Remove it with "
         "`modelguard fetch`, which rebuilds the snapshot from the lock."),
    Rule("MG-H105", _C, _SUS, "Snapshot entry does not point into the cache",
         "A snapshot entry is not a link to a blob of this cache (a symlink outside it, or a plain file). "
         "A loader would read bytes modelguard never checked; re-run `modelguard fetch`."),
    Rule("MG-H106", _C, _SUS, "Ref points to another commit",
         "refs/<revision> in the verified cache names a different commit than the lock, so a loader asking "
         "for the branch would get another snapshot. Re-run `modelguard fetch`."),
    Rule("MG-H107", _C, _SUS, "Admission record disagrees with the lock",
         "The snapshot was admitted with other files or hashes than the lock now lists. Re-run `modelguard fetch`."),
    Rule("MG-H108", _I, _SUS, "Hashes trusted from admission (--fast)",
         "verify --fast compared size, mtime and inode with the admission record instead of re-hashing. "
         "Run verify without --fast for a byte-level proof."),
    Rule("MG-H110", _C, _SUS, "Downloaded bytes differ from the lock",
         "The size or SHA-256 of what the Hub served is not what the lock pinned: the bytes were changed in "
         "transit or on the Hub. Nothing was admitted; investigate before re-locking."),
    Rule("MG-H111", _C, _SUS, "Published hash disagrees",
         "The Hub's published value (LFS SHA-256 or git blob SHA-1) does not match the bytes or the lock. "
         "Nothing was admitted; the Hub or a proxy is serving something else than it describes."),
    Rule("MG-H112", _H, _UNS, "Download could not be stored",
         "Writing the download to the quarantine failed (disk full, quota, I/O error). Free space under the "
         "cache root (or point --cache-dir elsewhere) and fetch again; nothing was admitted."),
    Rule("MG-H114", _H, _UNS, "Hub gave no usable answer",
         "The Hub could not be reached, refused access (gated or private repo) or failed while serving the "
         "locked files; nothing was admitted. Check the endpoint, token and access, then fetch again."),
    Rule("MG-H113", _H, _SUS, "Locked commit or file no longer published",
         "verify --remote: the Hub no longer serves the locked commit or file, or publishes other hashes for "
         "it (force-push, deleted or re-registered namespace). Review the change, then re-lock."),

    # ---- MG-P0xx: trust policy -------------------------------------------------------------
    # (org, file type, remote code, size rules go here)
    Rule("MG-P001", _H, _SUS, "Org not allowed by policy",
         "The repo's org is not in allowed-orgs (exact, case-sensitive; none is allowed until listed). "
         "Check the org is the one you mean (look-alikes are a typosquat), then add it to allowed-orgs."),
    Rule("MG-P002", _H, _SUS, "Org denied by policy",
         "The repo's org is in denied-orgs. Remove the model from the manifest or change the policy."),
    # MG-P010..P099: file-level policy -- modelguard.policy_eval
    Rule("MG-P010", _H, _SUS, "Pickle-family weights refused",
         "require-safetensors = true and this file is a pickle-family format (pickle, torch, joblib or a "
         "compressed stream). Use the model's safetensors weights (exclude this file) or relax the policy."),
    Rule("MG-P011", _H, _SUS, "Custom code refused",
         "trust-remote-code = \"deny\" and the model ships custom code (*.py or a config auto_map). Exclude "
         "it, or review it and pin it with trust-remote-code = \"allow-pinned\" and [[policy.remote-code]]."),
    Rule("MG-P012", _H, _SUS, "Custom code not pinned",
         "trust-remote-code = \"allow-pinned\" but this *.py file has no [[policy.remote-code]] pin or its "
         "SHA-256 differs from the pin. Review the new code and update the pin."),
    Rule("MG-P013", _H, _SUS, "Custom code from another repo",
         "The config's auto_map loads code from another repo (\"org/repo--module.Class\"), which cannot be "
         "pinned here. Lock that repo's code instead or refuse the model."),
    Rule("MG-P014", _M, _SUS, "File larger than max-file-size",
         "The file exceeds the policy's max-file-size. Exclude it in the manifest or raise the limit."),
    Rule("MG-P015", _M, _SUS, "File type not allowed",
         "The file's format (detected from its content) is not in allowed-file-types. Exclude it in the "
         "manifest or add the format to the policy."),

    # ---- MG-P2xx: provider models ----------------------------------------------------------
    # (alias, deprecation, retirement, lint rules go here)

    # ---- MG-L: lockfile --------------------------------------------------------------------
    # (stale, missing, version, signature rules go here)
    Rule("MG-L001", _H, _SUS, "Lockfile is stale",
         "The manifest (models or policy) changed since the lockfile was written. Run `modelguard lock` "
         "and commit the new modelguard.lock."),
    Rule("MG-L002", _H, _SUS, "Lockfile missing",
         "There is no lockfile for this manifest. Run `modelguard lock` and commit modelguard.lock."),
    Rule("MG-L003", _H, _UNS, "Unknown lock-version",
         "The lockfile was written by a newer (or unknown) modelguard. Upgrade modelguard, or re-create "
         "the lock with the version you have."),
    Rule("MG-L004", _H, _UNS, "Lockfile unparsable",
         "The lockfile is not valid TOML. It is generated, never edited by hand: restore it from version "
         "control or run `modelguard lock`."),
    Rule("MG-L005", _H, _UNS, "Lockfile holds an invalid value",
         "A key is missing, unknown or holds a value modelguard never writes (a non-hex hash, an unsafe "
         "path, a duplicate). Treat the lockfile as tampered: restore it or run `modelguard lock`."),
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
