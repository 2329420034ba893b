"""modelguard: pin, hash, scan and admit models before they reach a machine.

A short tour of the public modules:

* :mod:`modelguard.errors` — the exception tree (:class:`ModelguardError` and its
  ``RejectedError`` / ``NoVerdictError`` / ``UsageError`` branches) and the exit-code table.
* :mod:`modelguard.models` — findings, verdicts, severities, reports (frozen data).
* :mod:`modelguard.scan` — content-based scanning of pickle, PyTorch, numpy, joblib, archives,
  safetensors, custom code, Keras, GGUF and ONNX files; never loads what it scans.
* :mod:`modelguard.api` — ``lock`` / ``fetch`` / ``verify`` / ``snapshot`` as library calls;
  the CLI (:mod:`modelguard.cli`) is a thin layer over them.

The names below are importable from ``modelguard`` directly; heavy modules load on first use.
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
    "load_torch": "modelguard.api",
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
