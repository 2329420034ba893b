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
    Rule("MG-S301", _M, _SUS, "Custom Python code present",
         "A loader with trust_remote_code runs this file. Review it, then allow it by file hash in the "
         "policy ([[policy.remote-code]]), or use a model that needs no custom code."),
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

    # ---- MG-H: integrity -------------------------------------------------------------------
    # (hash, size, missing/extra file, commit rules go here)

    # ---- MG-P0xx: trust policy -------------------------------------------------------------
    # (org, file type, remote code, size rules go here)

    # ---- MG-P2xx: provider models ----------------------------------------------------------
    # (alias, deprecation, retirement, lint rules go here)

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
