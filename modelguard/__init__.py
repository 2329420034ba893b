"""modelguard: pin, hash, scan and admit models before they reach a machine.

A tour of the package in the order a model travels through it (arrows point down: each layer
imports only the ones below it)::

    modelguard.toml --lock--> modelguard.lock --fetch--> quarantine --hash+scan+policy--> verified cache
                                      `---------------------- verify (CI gate) -----------------------'

* :mod:`modelguard.api` — the library surface: every command is one call here, and the CLI
  (:mod:`modelguard.cli`) only parses flags, calls, renders and exits.
* :mod:`modelguard.spec` — what the user wrote and what was resolved, pure: the manifest
  (``modelguard.toml``), the policy, the lockfile (``modelguard.lock``), the one validator per
  identifier (``spec.ids``) and the default file names (``spec.filenames``).
* :mod:`modelguard.flows` — the commands, each wiring the layers below: ``lock`` resolves the
  manifest, ``fetch`` downloads, checks and admits, ``verify`` is the offline CI gate,
  ``snapshot`` hands one admitted folder to a loader, ``load`` loads verified bytes, ``revoke``
  refuses a model everywhere.
* :mod:`modelguard.hub` — the only door to the network for models: resolve, list, download
  (``hub.client``, ``hub.session``), validate what the Hub says (``hub.metadata``), and the one
  retry policy for every HTTP request (``hub.transport``).
* :mod:`modelguard.store` — the verified cache on disk: quarantine and admission
  (``store.cache``), the typed admission record (``store.admission``), integrity checks, hashing,
  atomic writes and the audit log.
* :mod:`modelguard.scan` — content-based scanning of pickle, PyTorch, numpy, joblib, archives,
  safetensors, custom code, Keras, GGUF and ONNX files (``scan.pickle`` for the pickle analyser);
  never loads what it scans.
* :mod:`modelguard.trust` — decisions: the policy over scan results, suppressions, revocation,
  lockfile and model signatures.
* :mod:`modelguard.providers` — provider model IDs: the dated catalog and one small client per API.
* :mod:`modelguard.report` — the rule table (each rule's severity, verdict, help and the exception
  it raises) and the renderers: text, JSON (schema ``modelguard/report/v1``), SARIF.
* :mod:`modelguard.models` — frozen data every layer shares: formats, findings, verdicts, per-model
  outcomes, reports and the one report -> exit code rule; :mod:`modelguard.errors` — the exception
  tree and the exit-code table; :mod:`modelguard.clock` — the one place "today" is read.
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
path it has doubts about. ``lock``, ``fetch`` (and ``plan_fetch``, its dry run), ``verify``,
``cache_contents`` (``list``), ``revoke``, ``prune``, ``sign``, ``signer_entry``, ``audit_log``, ``render``,
``sarif_anchors``, ``scan_with_policy``, ``init``, ``add``, ``remove`` and ``sbom`` are the commands as calls.
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
    "check_lock": "modelguard.api",
    "fetch": "modelguard.api",
    "verify": "modelguard.api",
    "snapshot": "modelguard.api",
    "hf_offline": "modelguard.api",
    "offline_env": "modelguard.api",
    "closed_env": "modelguard.api",
    "prune": "modelguard.api",
    "push": "modelguard.api",
    "load_torch": "modelguard.api",
    "load_safetensors": "modelguard.api",
    "revoke": "modelguard.api",
    "sign": "modelguard.api",
    "signer_entry": "modelguard.api",
    "audit_log": "modelguard.api",
    "plan_fetch": "modelguard.api",
    "cache_contents": "modelguard.api",
    "sarif_anchors": "modelguard.api",
    "render": "modelguard.api",
    "scan_with_policy": "modelguard.api",
    "init": "modelguard.api",
    "add": "modelguard.api",
    "remove": "modelguard.api",
    "sbom": "modelguard.api",
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
