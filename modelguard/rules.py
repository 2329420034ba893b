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
    Rule("MG-S101", _C, _MAL, "Pickle imports a dangerous callable",
         "Loading this pickle imports something that runs commands, evaluates code, reads or writes "
         "files, opens connections or unpickles more data. Do not load it; report it to the publisher."),
    Rule("MG-S102", _H, _SUS, "Pickle imports a callable that is not on the allowlist",
         "Loading this pickle imports and may call code modelguard does not know to be safe. Review the "
         "named import; if it is harmless, allow it with [[policy.safe-global]], or convert to safetensors."),
    Rule("MG-S103", _C, _MAL, "Pickle imports a name computed at load time",
         "The module or name of an import is built while loading, so no static scan can tell what gets "
         "imported. Real model files never do this; treat the file as an evasion attempt."),
    Rule("MG-S104", _H, _SUS, "Pickle uses a copyreg extension code",
         "EXT opcodes import whatever the loading process registered under that code; the pickle alone "
         "does not say what runs. Re-save the model with a standard pickler or convert it to safetensors."),
    Rule("MG-S105", _M, _SUS, "Data after the end of the pickle",
         "Bytes follow the pickle's STOP that are not another pickle. A loader that reads further, or "
         "another format's reader, may see content the scan did not analyse."),
    Rule("MG-S106", _H, _SUS, "Pickle calls or modifies objects in a way model files never do",
         "The pickle calls a value built at load time, or sets attributes or items on an imported "
         "object. These are code-execution gadgets; inspect the payload before loading."),
    Rule("MG-S107", _C, _MAL, "Pickle state installs a special method",
         "A BUILD state sets a dunder attribute such as __setstate__ or __reduce__, which turns a later "
         "opcode into a call of the attacker's choice. Do not load this file."),
    Rule("MG-S108", _H, _SUS, "joblib array wrapper reads a file outside the model folder",
         "An old-format joblib array points to a side file by an absolute path or one that climbs out of "
         "the folder; joblib would load that file (with pickles allowed). Do not load it."),

    # ---- MG-S2xx: containers (zip, torch, numpy, joblib, archives, compression) -----------
    # (container rules go here)
    Rule("MG-S201", _H, _SUS, "Archive headers tampered",
         "Zip headers disagree (local vs central name, flags, sizes, CRC-32) or a member name repeats. "
         "Strict readers refuse such files while torch loads them, a known way to slip a pickle past "
         "scanners. Rebuild the archive from a trusted source."),
    Rule("MG-S202", _H, _SUS, "Data outside the archive structure",
         "Bytes before, between or after the archive's members: a polyglot (torch.load runs a prefix "
         "pickle) or hidden payload. Real model writers leave none; re-export the model."),
    Rule("MG-S203", _M, _UNS, "Archive member cannot be read",
         "The member is encrypted or uses a compression method modelguard does not decode, so its "
         "content was not checked. Repack it stored or deflated."),
    Rule("MG-S204", _H, _SUS, "Archive member path escapes the extraction folder",
         "An absolute path or '..' in a member name writes outside the target folder when the archive "
         "is extracted. Do not extract it; rebuild the archive with relative names."),
    Rule("MG-S205", _M, _SUS, "Link or special file in archive",
         "Symlinks, hard links and device or fifo entries in a model archive can redirect reads or "
         "writes on extraction. Replace them with regular files."),
    Rule("MG-S206", _M, _SUS, "Data after the end of the content a loader reads",
         "Trailing bytes after the last storage, array or compressed stream are ignored by the loader "
         "but can hide a second payload. Re-export the file."),

    # ---- MG-S3xx..S7xx: code and other formats ---------------------------------------------
    # (safetensors, python code, config auto_map, keras, gguf, onnx rules go here)

    # ---- MG-H: integrity -------------------------------------------------------------------
    # (hash, size, missing/extra file, commit rules go here)
    # Raised by modelguard.hub (lock, fetch, verify --remote) and by the cache checks (fetch, verify).
    Rule("MG-H001", _C, _MAL, "Content differs from the lockfile",
         "The SHA-256 of the bytes is not the one the lockfile pins. The file was changed after locking "
         "(on the Hub, in transit or in the cache); do not use it. Re-lock only if the change is expected."),
    Rule("MG-H002", _C, _MAL, "Size differs from the lockfile or the Hub's metadata",
         "The number of bytes is not the size that was locked or announced. Treat the file as tampered; "
         "fetch it again and re-lock only if the publisher confirms the change."),
    Rule("MG-H003", _C, _MAL, "Content differs from the hash the Hub publishes",
         "The bytes do not match the published LFS SHA-256 or git blob SHA-1 (or the Hub published "
         "different hashes than were locked). The Hub, a mirror or the network served other bytes."),
    Rule("MG-H004", _H, _SUS, "Invalid or hostile Hub metadata",
         "The Hub answered with a malformed commit, path, hash, size, ETag or link (e.g. '../' paths, "
         "duplicate paths, non-hex hashes). Nothing from this answer was used; check --endpoint and the repo."),
    Rule("MG-H005", _H, _SUS, "Commit not confirmed by the Hub",
         "The Hub no longer has the locked commit (force-push, deleted or re-registered repo) or answered "
         "for another commit than the one requested. Investigate before re-locking."),
    Rule("MG-H006", _H, _UNS, "Locked file missing",
         "A file pinned in the lockfile is absent (from the Hub at the locked commit, or from the admitted "
         "snapshot). Run fetch again; if the Hub lost it, re-lock after review."),
    Rule("MG-H007", _H, _SUS, "File not in the lockfile",
         "A file is present that the lockfile does not pin (in the admitted snapshot, or on the Hub at the "
         "locked commit within the include/exclude filters). Loaders may read it; remove it or re-lock."),
    Rule("MG-H008", _H, _UNS, "Download truncated",
         "The server sent fewer bytes than announced. A partial file is never admitted; retry the fetch."),
    Rule("MG-H009", _H, _SUS, "Download redirected to an untrusted location",
         "A download was redirected off the Hub where the protocol does not allow it (a git-stored file "
         "sent to another host, an https->http downgrade, a non-http scheme, a redirect loop)."),

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
