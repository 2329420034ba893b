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

    # ---- MG-L1xx / MG-P5xx: signatures, revocation
    Rule("MG-L101", _H, _SUS, "Lockfile signature missing",
         "The policy lists lockfile signers but modelguard.lock.sig is absent. Run `modelguard sign --key KEY.pem` "
         "after reviewing the lock; a finding (not info) when require-signature = true."),
    Rule("MG-L102", _H, _SUS, "Lockfile changed after signing",
         "The signature verifies but signs different bytes than the lockfile on disk: someone edited or "
         "regenerated the lock. Review the diff, then re-sign with `modelguard sign`."),
    Rule("MG-L103", _H, _SUS, "Lockfile signature does not verify",
         "The signature bytes or the signed payload were altered, or the signature was made by another key "
         "with the same keyid. Restore modelguard.lock.sig from version control or re-sign."),
    Rule("MG-L104", _H, _SUS, "Lockfile signed by an untrusted key",
         "The signature's keyid is not listed in [[policy.signers]] with scope \"lockfile\" or \"*\". "
         "Add the key (from `modelguard sign --show-public`) only if you trust its holder."),
    Rule("MG-L105", _H, _SUS, "Signer key or algorithm mismatch",
         "The policy's signer entry declares another algorithm than its key (or the signature) uses, or its "
         "keyid is not the key's. Fix the [[policy.signers]] entry with `modelguard sign --show-public`."),
    Rule("MG-L106", _H, _UNS, "Lockfile signature malformed",
         "modelguard.lock.sig is not a DSSE envelope over a modelguard lockfile. Restore it or re-sign."),
    Rule("MG-L107", _H, _SUS, "Signature required but no signer trusted",
         "require-signature = true, but no [[policy.signers]] entry can sign lockfiles, so nothing can pass. "
         "Add the team's public key to the policy."),
    Rule("MG-P501", _C, _SUS, "Model revoked",
         "The policy's [[policy.revoked]] list names this repo@commit; it is refused everywhere the policy "
         "applies. Move to a fixed commit (`modelguard lock --upgrade`) after reading the revocation reason."),
    Rule("MG-P502", _C, _SUS, "File revoked",
         "The policy's [[policy.revoked]] list names this file's sha256; any model holding it is refused. "
         "Move to a commit without the file after reading the revocation reason."),
    Rule("MG-P510", _H, _SUS, "Model signature required but not verified",
         "The policy lists signers for this org or repo, but the model ships no model signature (model.sig) "
         "that verifies offline. Ask the publisher to sign it with a key you list, or change the policy."),
    Rule("MG-P511", _H, _SUS, "Model signature does not verify",
         "The DSSE signature in model.sig does not verify under the key it names: the signature or the signed "
         "statement was altered. Do not use the model; fetch the signature again from the publisher."),
    Rule("MG-P512", _H, _SUS, "Model signed by an untrusted key",
         "model.sig verifies only with a key or certificate the policy does not list for this org or repo. "
         "Add the publisher's key to [[policy.signers]] (scope org or org/name) only if you trust it."),
    Rule("MG-P513", _H, _SUS, "Model signer algorithm mismatch",
         "A [[policy.signers]] entry for this model declares another algorithm than its key, or its keyid is "
         "not its key's. Fix the entry."),
    Rule("MG-P514", _H, _UNS, "Model signature malformed",
         "model.sig is not a Sigstore bundle with a DSSE in-toto statement of a model_signing predicate, or "
         "its subject's root digest does not match its resources. Treat the signature as absent."),
    Rule("MG-P515", _H, _SUS, "File differs from the signed model",
         "The file's SHA-256 in the lockfile is not the digest the publisher signed: the file changed after "
         "signing. Do not use the model; report it to the publisher."),
    Rule("MG-P516", _H, _SUS, "File not covered by the model signature",
         "The lockfile pins a file the signed manifest does not list, so nothing vouches for it. Exclude the "
         "file in modelguard.toml, or ask the publisher to sign it."),
    Rule("MG-P517", _M, _UNS, "Signed digests not comparable",
         "The signature hashes files in shards or with another algorithm than SHA-256, so the signed digests "
         "cannot be matched to the lockfile offline. The signature alone does not vouch for the files."),
    Rule("MG-P518", _I, _SUS, "Keyless signature present, not verified offline",
         "model.sig is a keyless Sigstore signature (Fulcio certificate, Rekor log); checking it needs the "
         "network and Sigstore's trust root, so modelguard does not count it as verified."),
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
