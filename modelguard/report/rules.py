"""Every rule modelguard can report: id, default severity, verdict, one-line title, help, and the
exception a failing finding of it becomes when a library call refuses a model.

Families: ``MG-S`` scan, ``MG-H`` integrity, ``MG-P`` policy, ``MG-L`` lockfile. Each section of the
table names the :class:`~modelguard.errors.RejectedError` subclass its rules raise (a rule may name
its own); :data:`REFUSAL_ORDER` (with :class:`Rule`, in :mod:`modelguard.report.rule`) says which wins
when a model fails several. Each rule has a test that triggers it: tests/report/rule_triggers.py names
one per rule, and that test fails unless running it produces a finding of the rule. Pure data; no I/O.

Findings are made with :func:`finding`, never by hand, so severity and verdict always
come from this one table. :func:`finding` raises the ``modelguard.finding`` audit event
(:func:`sys.audit`, PEP 578) with the rule id, so an embedding application (or the test suite)
can observe every finding made, wherever it is made.
"""

from __future__ import annotations

import sys

from modelguard.errors import (
    IntegrityError,
    NotAdmittedError,
    PolicyError,
    RevokedError,
    SignatureError,
    StaleLockError,
    UnsafeContentError,
)
from modelguard.models import Finding, Severity, Verdict
from modelguard.report.budget_rules import BUDGET_RULES
from modelguard.report.cache_rules import CACHE_RULES
from modelguard.report.detection_rules import DETECTION_RULES, S101_HELP, S301_HELP
from modelguard.report.format_rules import FORMAT_RULES
from modelguard.report.rule import REFUSAL_ORDER, Rule
from modelguard.report.rule import raises as _raises
from modelguard.report.transfer_rules import TRANSFER_RULES

__all__ = ["REFUSAL_ORDER", "RULES", "Rule", "finding"]

_C, _H, _M, _L, _I = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO
_MAL, _SUS, _UNS = Verdict.MALICIOUS, Verdict.SUSPICIOUS, Verdict.UNSCANNABLE

_ALL: list[Rule] = [
    # ---- MG-S0xx: scanning in general ------------------------------------------------------
    *_raises(UnsafeContentError, [
    Rule("MG-S001", _H, _UNS, "File could not be parsed",
         "The file is truncated or malformed for the format its content claims; a loader may still "
         "read part of it, so it cannot be called clean. Re-download it or get it from the publisher."),
    # Unknown binaries (modelguard.scan.unknown): MG-S002 fails, MG-S005 (format_rules) informs.
    Rule("MG-S002", _M, _UNS, "Unrecognised binary format that hides loadable content",
         "No recogniser claims the file, and it holds a complete pickle, an archive header or a TensorFlow "
         "code or file op: something may read that part as code. Remove the file, or convert the model "
         "to safetensors."),
    Rule("MG-S003", _H, _UNS, "Scan limit exceeded",
         "The file exceeds a safety limit (decompression ratio, nesting depth, member count, structure "
         "size). Archive and pickle bombs look like this; inspect the file by hand."),
    Rule("MG-S004", _H, _UNS, "File unreadable",
         "The file could not be read (permissions, I/O error). Fix access and scan again."),
    # ---- MG-S1xx: pickle -------------------------------------------------------------------
    # (pickle analyser rules go here)
    Rule("MG-S101", _C, _MAL, "Pickle imports a dangerous callable", S101_HELP),
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
    Rule("MG-S301", _I, _SUS, "Custom Python code present", S301_HELP),
    Rule("MG-S302", _H, _SUS, "Python code runs processes",
         "The code calls subprocess, os.system/popen/exec/spawn or pty. A few real models compile kernels "
         "this way; check every command before allowing the file."),
    Rule("MG-S303", _H, _SUS, "Python code builds or imports code at run time",
         "eval/exec/compile/__import__/importlib run code that cannot be reviewed from the file. Read "
         "what the call receives before allowing the file."),
    Rule("MG-S304", _C, _MAL, "Python code runs an obfuscated payload",
         "Decoded data (base64, zlib, marshal, codecs, hex) is executed or deserialized: the shape of "
         "a hidden payload. Do not load it; report the repository."),
    Rule("MG-S305", _H, _SUS, "Python code tampers with imports or builtins",
         "The code rewrites sys.modules, import hooks or builtins, which can change what other code "
         "runs. Review it line by line before allowing it."),
    Rule("MG-S306", _H, _SUS, "Python code opens network connections",
         "socket/urllib/requests/http.client in model code can exfiltrate data or fetch a payload. "
         "Review where it connects before allowing it."),
    Rule("MG-S307", _M, _SUS, "Python code writes or deletes files",
         "The code writes, deletes, moves or changes permissions of files. Check the paths before "
         "allowing it."),
    Rule("MG-S308", _H, _SUS, "Python code deserializes unsafely",
         "pickle/dill/joblib loads, torch.load without weights_only=True, numpy allow_pickle or "
         "yaml.load run code from data. Review what is loaded, and from where."),
    Rule("MG-S309", _M, _SUS, "Python code embeds a long encoded blob",
         "A long base64 or hex literal in code often hides a payload. Decode it offline and review."),
    Rule("MG-S310", _M, _UNS, "Python code does not parse",
         "The file is not valid Python for this interpreter, so it cannot be reviewed statically. "
         "Check it by hand."),
    Rule("MG-S311", _M, _SUS, "Config points a loader at custom code",
         "auto_map / custom_pipelines make transformers import code from the repository when "
         "trust_remote_code is set. Review the named modules and allow them by hash in the policy."),
    Rule("MG-S312", _H, _SUS, "Config points a loader at code in another repository",
         "An auto_map entry of the form 'org/repo--module.Class' imports code this repository's hashes "
         "do not cover. Pin and review that repository too, or do not load with trust_remote_code."),
    Rule("MG-S313", _L, _UNS, "JSON file does not parse",
         "The file claims to be JSON but does not parse; a loader would fail on it, and modelguard "
         "cannot check what it configures. Re-download it."),
    Rule("MG-S314", _H, _SUS, "Python code loads native code",
         "ctypes/cffi call into native libraries, outside Python's view. Some quantization kernels do "
         "this legitimately; check which library is loaded and from where."),
    Rule("MG-S315", _C, _MAL, "Python code runs a process or connects out when imported",
         "Module-level code starts a process or a network connection the moment a loader imports the "
         "file, before any model is built. Do not load it; report the repository."),
    Rule("MG-S401", _H, _UNS, "safetensors header length invalid",
         "The 8-byte header length is larger than the file or the 100 MB limit safetensors itself "
         "enforces. The file is truncated or crafted; re-download it."),
    Rule("MG-S402", _H, _UNS, "safetensors header is not a valid JSON object",
         "The header must be a UTF-8 JSON object without duplicate keys, padded with spaces only. "
         "safetensors refuses this file; re-download or re-export it."),
    Rule("MG-S403", _H, _UNS, "safetensors tensor entry invalid",
         "Each tensor needs exactly dtype, shape and data_offsets, a known dtype, a non-negative shape "
         "and a byte length equal to shape x dtype size; __metadata__ maps strings to strings."),
    Rule("MG-S404", _H, _UNS, "safetensors data offsets invalid",
         "Tensor byte ranges must lie in the data section, in order, without gaps or overlaps, and "
         "cover it exactly. Overlapping or out-of-range data is a crafted file."),
    Rule("MG-S501", _C, _MAL, "Keras Lambda layer or serialized Python code",
         "The model config carries Python bytecode or a lambda that Keras runs when it loads or calls "
         "the model. Do not load it; rebuild the layer in reviewed code instead."),
    Rule("MG-S502", _C, _MAL, "Keras config calls a dangerous function or loader gadget",
         "The config names a callable that runs processes, evaluates code, imports modules, fetches "
         "files or turns off Keras safe mode. Do not load it; report the repository."),
    Rule("MG-S503", _H, _SUS, "Keras config references code outside Keras",
         "A layer or object comes from a module that is not part of Keras; loading it runs or needs "
         "custom code. Review that code and register it yourself instead of trusting the config."),
    Rule("MG-S504", _H, _SUS, "Keras config reads a file or URL",
         "A layer config names an external path or URL (vocabulary, SavedModel, weights) that the "
         "loader would read outside the model archive. Check the path."),
    Rule("MG-S505", _H, _UNS, "Keras HDF5 model config not found or not parseable",
         "The legacy .h5 file names a model_config but modelguard could not read it, so Lambda "
         "layers cannot be ruled out. Convert the model to .keras or safetensors."),
    Rule("MG-S601", _C, _MAL, "Jinja template escapes the sandbox",
         "The chat template reaches Python internals (__class__, __globals__, |attr tricks, format "
         "methods, os/popen) as server-side template injection does. Do not serve this model."),
    Rule("MG-S602", _M, _SUS, "Jinja template uses unusual constructs",
         "The template uses attr(), include/import/extends or similar constructs chat templates do "
         "not need. Review the template before serving the model."),
    Rule("MG-S701", _H, _MAL, "ONNX external data escapes the model folder",
         "An initializer's external_data location is absolute, uses '..', or names another drive, so "
         "the runtime would read a file outside the model. Do not load it."),
    Rule("MG-S702", _I, _SUS, "ONNX model reads external data",
         "The model stores tensors in files beside it; those files must be present and scanned too."),
    Rule("MG-S703", _L, _SUS, "ONNX model uses a custom operator domain",
         "A custom op domain needs a native library registered with the runtime; that library runs "
         "native code. Check where it comes from."),
    Rule("MG-S530", _C, _MAL, "YAML text builds Python objects from a dangerous callable",
         "A !!python/object or /name tag names a callable that runs code; a full or unsafe yaml.load runs it."),
    Rule("MG-S531", _H, _SUS, "YAML text uses Python object tags",
         "A !!python/object or /name tag names an unreviewed callable; load configs with yaml.safe_load."),
    *(Rule(i, Severity(sev), Verdict(v), t, x) for i, sev, v, t, x in (*FORMAT_RULES, *DETECTION_RULES)),
    ]),

    # ---- MG-H: integrity -------------------------------------------------------------------
    *_raises(IntegrityError, [
    # (hash, size, missing/extra file, commit rules go here)
    # Raised by modelguard.hub.client (lock, fetch, verify --remote) and by the cache checks (fetch, verify).
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
    # MG-H1xx: the verified cache (admission, snapshots, records) -- modelguard.store.cache / fetcher / verifier
    Rule("MG-H101", _C, _UNS, "Locked model not admitted",
         "The locked snapshot is not in the verified cache (or its admission record is missing or unreadable). "
         "Run `modelguard fetch`; loaders must not use a snapshot modelguard did not admit.", error=NotAdmittedError),
    Rule("MG-H102", _C, _SUS, "Snapshot entry does not point into the cache",
         "A snapshot entry is not a relative link to a blob of this cache (a symlink outside it, a plain file, "
         "a folder link). A loader would read bytes modelguard never checked; re-run `modelguard fetch`."),
    Rule("MG-H103", _C, _SUS, "Ref points to another commit",
         "refs/<revision> in the verified cache names a different commit than the lock, so a loader asking "
         "for the branch would get another snapshot. Re-run `modelguard fetch`."),
    Rule("MG-H104", _C, _SUS, "Admission record disagrees with the lock",
         "The snapshot was admitted with other files or hashes than the lock now lists. Re-run `modelguard fetch`."),
    Rule("MG-H105", _I, _SUS, "Unchanged files not re-hashed (fast check)",
         "verify --fast (and snapshot()) skipped files whose size, mtime, ctime, device and inode equal those "
         "recorded when their bytes were last hashed. Run verify without --fast for a byte-level proof."),
    Rule("MG-H106", _H, _UNS, "Download could not be stored",
         "Writing the download to the quarantine failed (disk full, quota, I/O error). Free space under the "
         "cache root (or point --cache-dir elsewhere) and fetch again; nothing was admitted."),
    Rule("MG-H107", _H, _UNS, "Hub gave no usable answer",
         "The Hub could not be reached, refused access (gated or private repo) or failed while serving the "
         "locked files; nothing was admitted. Check the endpoint, token and access, then fetch again."),
    # MG-H108..H129: the verified cache proves itself (issue 13) -- data in report/cache_rules.py
    *(Rule(i, Severity(sev), Verdict(v), title, text) for i, sev, v, title, text in CACHE_RULES),
    # MG-H16x: OCI mirrors -- modelguard.mirror (the registry is untrusted exactly like the Hub)
    Rule("MG-H160", _H, _UNS, "Blob not in the mirror",
         "The mirror's repository for this model holds no blob with the locked digest, and the mirror's "
         "fallback is \"none\". Publish the model with `modelguard push`, or allow fallback = \"hub\"."),
    Rule("MG-H161", _H, _UNS, "Mirror gave no usable answer",
         "The OCI registry could not be reached, refused the credentials (or asked for some none were found), "
         "or failed while serving; nothing was admitted from it. Check the URL, `docker login`, and try again."),
    Rule("MG-H162", _H, _SUS, "Invalid or hostile registry answer",
         "The registry answered with a manifest whose bytes are not the digest it names, malformed JSON, an "
         "oversized document or an encoded blob. Nothing from the answer was used; check the mirror."),
    Rule("MG-H163", _H, _SUS, "Unsafe registry redirect or token service",
         "The registry redirected a download to a non-http location or from HTTPS to HTTP, redirected in a "
         "loop, or named a token service over plain HTTP. Credentials were not sent; check the mirror."),
    Rule("MG-H164", _I, _SUS, "File fetched from the Hub instead of the mirror",
         "The mirror lacked the file or did not answer, and its fallback is \"hub\": the bytes came from the Hub "
         "and passed the same checks. Push the model to the mirror so the fleet stops depending on the Hub."),
    ]),

    # ---- MG-P0xx: trust policy -------------------------------------------------------------
    *_raises(PolicyError, [
    # (org, file type, remote code, size rules go here)
    Rule("MG-P001", _H, _SUS, "Org not allowed by policy",
         "The repo's org is not in allowed-orgs (exact, case-sensitive; none is allowed until listed). "
         "Check the org is the one you mean (look-alikes are a typosquat), then add it to allowed-orgs."),
    Rule("MG-P002", _H, _SUS, "Org denied by policy",
         "The repo's org is in denied-orgs. Remove the model from the manifest or change the policy."),
    # MG-P010..P099: file-level policy -- modelguard.trust.evaluate
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
    Rule("MG-P016", _L, _SUS, "Remote-code pins have no effect",
         "[[policy.remote-code]] pins apply only under trust-remote-code = \"allow-pinned\"; with \"deny\" every "
         "custom code file is refused, pinned or not. Set trust-remote-code = \"allow-pinned\" to allow the "
         "pinned files, or delete the pins."),

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
    Rule("MG-P208", _H, _SUS, "Provider no longer lists the locked model",
         "`verify --remote` asked the provider and it does not list the locked model ID any more: calls to it "
         "fail or will soon. Move to the replacement, update modelguard.toml and lock again."),
    Rule("MG-P209", _L, _SUS, "Model ID not in the provider catalog",
         "`lint` found an ID with a provider's shape (claude-..., gpt-..., gemini-...) that modelguard's catalog "
         "does not list, so it cannot say whether it floats, is deprecated or is retired. Check it against the "
         "provider's model list, or add it to modelguard.toml and run `modelguard lock --online`."),
    Rule("MG-P210", _I, _SUS, "Model value of no known provider",
         "`lint` found a value given to a model key (model=, \"model\":, OPENAI_MODEL=) that has no known "
         "provider's ID shape: a self-hosted or fine-tuned model, a typo, or a provider modelguard does not "
         "cover. Shown for review; it fails nothing unless --fail-on info."),
    ]),

    # ---- MG-L: lockfile --------------------------------------------------------------------
    *_raises(StaleLockError, [
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
         "control, or delete it and run `modelguard lock`."),
    Rule("MG-L005", _H, _UNS, "Lockfile holds an invalid value",
         "A key is missing, unknown or holds a value modelguard never writes (a non-hex hash, an unsafe "
         "path, a duplicate). Treat the lockfile as tampered: restore it, or delete it and run `modelguard lock`."),
    ]),

    *BUDGET_RULES,  # MG-H130..H142, MG-L020..L025: modelguard.report.budget_rules
    *TRANSFER_RULES,  # MG-H150..H152, MG-L040..L041: modelguard.report.transfer_rules

    # ---- MG-P9xx: suppressions
    *_raises(PolicyError, [
    Rule("MG-P900", _M, _SUS, "Suppression expired",
         "A [[policy.suppress]] entry is past its expiry date, so the finding it covered counts again. "
         "Fix the underlying finding, or review it and renew the entry with a new expires date."),
    Rule("MG-P901", _M, _SUS, "Suppression cannot be applied",
         "A [[policy.suppress]] entry has no reason or no valid ISO expires date (YYYY-MM-DD), so it is "
         "ignored and the finding it covered counts. Give every suppression a reason and an expiry."),
    ]),
    # ---- MG-L1xx / MG-P5xx: signatures, revocation
    *_raises(SignatureError, [
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
         "applies. Move to a fixed commit (`modelguard lock --upgrade`) after reading the revocation reason.",
         error=RevokedError),
    Rule("MG-P502", _C, _SUS, "File revoked",
         "The policy's [[policy.revoked]] list names this file's sha256; any model holding it is refused. "
         "Move to a commit without the file after reading the revocation reason.", error=RevokedError),
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
    ]),
]

RULES: dict[str, Rule] = {r.id: r for r in _ALL}
if len(RULES) != len(_ALL):  # pragma: no cover - caught at import in every test run
    raise RuntimeError("duplicate rule id in modelguard.report.rules")
if any(r.error not in REFUSAL_ORDER for r in _ALL):  # pragma: no cover - caught at import in every test run
    raise RuntimeError("a rule in modelguard.report.rules raises no class of REFUSAL_ORDER")


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
    from modelguard.report.redact import redact_registered

    rule = RULES[rule_id]
    sys.audit("modelguard.finding", rule.id)
    message, location, detail, path = redact_registered(message, location, detail, path)  # the token in use
    return Finding(rule=rule.id, severity=rule.severity if severity is None else severity, message=message,
                   location=location, detail=detail, verdict=rule.verdict, path=path, model=model)
