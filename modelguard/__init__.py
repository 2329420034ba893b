"""modelguard: pin, hash, scan and admit models before they reach a machine.

A short tour of the public modules:

* :mod:`modelguard.errors` — the exception tree (:class:`ModelguardError` and its
  ``RejectedError`` / ``NoVerdictError`` / ``UsageError`` branches) and the exit-code table.
* :mod:`modelguard.models` — findings, verdicts, severities, reports (frozen data).
* :mod:`modelguard.scan` — content-based scanning of pickle, PyTorch, numpy, joblib, archives,
  safetensors, custom code, Keras, GGUF and ONNX files; never loads what it scans.
* :mod:`modelguard.api` — ``lock`` / ``fetch`` / ``verify`` / ``snapshot`` as library calls;
  the CLI (:mod:`modelguard.cli`) is a thin layer over them.
* :mod:`modelguard.demo` — ``modelguard demo``: the whole flow against a bundled loopback Hub.

The names below are importable from ``modelguard`` directly; heavy modules load on first use.
For model loaders::

    import modelguard
    path = modelguard.snapshot("embedder")      # admitted snapshot folder of a lock entry, or raises
    with modelguard.hf_offline():               # HF_HUB_CACHE=<verified cache>/hub, HF_HUB_OFFLINE=1
        ...                                     # from_pretrained("org/model") sees admitted models only
    state = modelguard.load_torch("model.bin")  # scans the bytes, then torch.load(weights_only=True) on them

``snapshot`` raises a :class:`ModelguardError` subclass per reason (:class:`NotLockedError`,
:class:`NotAdmittedError`, :class:`IntegrityError`, :class:`PolicyError`,
:class:`UnsafeContentError`, :class:`RevokedError`, :class:`StaleLockError`); it never returns a
path it has doubts about.
"""

from __future__ import annotations

import importlib
from typing import Any

from modelguard.errors import (
    AccessDeniedError,
    ConfigError,
    ExitCode,
    HubUnreachableError,
    IntegrityError,
    LockfileError,
    ModelguardError,
    NotAdmittedError,
    NotFoundError,
    NothingToCheckError,
    NotLockedError,
    NoVerdictError,
    PolicyError,
    RejectedError,
    RevokedError,
    SignatureError,
    StaleLockError,
    UnreadableError,
    UnsafeContentError,
    UsageError,
)

__version__ = "0.1.0"

_LAZY = {
    "scan_file": "modelguard.scan",
    "scan_bytes": "modelguard.scan",
    "scan_paths": "modelguard.scan",
    "lock": "modelguard.api",
    "fetch": "modelguard.api",
    "verify": "modelguard.api",
    "snapshot": "modelguard.api",
    "hf_offline": "modelguard.api",
    "offline_env": "modelguard.api",
    "load_torch": "modelguard.api",
    "load_safetensors": "modelguard.api",
    "revoke": "modelguard.api",
    "sign": "modelguard.api",
    "signer_entry": "modelguard.api",
    "audit_log": "modelguard.api",
    "sarif_anchors": "modelguard.api",
    "render": "modelguard.api",
}

__all__ = [
    "AccessDeniedError",
    "ConfigError",
    "ExitCode",
    "HubUnreachableError",
    "IntegrityError",
    "LockfileError",
    "ModelguardError",
    "NoVerdictError",
    "NotAdmittedError",
    "NotFoundError",
    "NotLockedError",
    "NothingToCheckError",
    "PolicyError",
    "RejectedError",
    "RevokedError",
    "SignatureError",
    "StaleLockError",
    "UnreadableError",
    "UnsafeContentError",
    "UsageError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelguard' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
