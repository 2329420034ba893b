"""Loading models in Python code: only verified bytes, with no change to existing loaders.

* :func:`hf_offline` / :func:`offline_env`: point Hugging Face loaders (transformers, diffusers,
  sentence-transformers) at the verified cache, offline, so they can load only admitted models.
* :func:`load_torch`: scan a checkpoint's bytes, then ``torch.load`` those very bytes.

Re-exported by :mod:`modelguard.api` and the package. Must not download, admit or write
anything; PyTorch is optional and imported only inside :func:`load_torch`.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import pickle
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from modelguard.errors import NotAdmittedError, UnreadableError, UnsafeContentError, UsageError
from modelguard.models import Severity

PathLike = str | os.PathLike[str]


def _severity(value: Severity | str) -> Severity:
    if isinstance(value, Severity):
        return value
    try:
        return Severity.parse(value)
    except ValueError as e:
        raise UsageError(f"fail_on: {e}") from None


# Variables that older transformers, sentence-transformers and diffusers read *instead of*
# HF_HUB_CACHE: left set, they would let a loader read a cache modelguard never verified.
_LEGACY_CACHE_VARS = (
    "HUGGINGFACE_HUB_CACHE",
    "TRANSFORMERS_CACHE",
    "PYTORCH_TRANSFORMERS_CACHE",
    "PYTORCH_PRETRAINED_BERT_CACHE",
    "SENTENCE_TRANSFORMERS_HOME",
)


def offline_env(cache_dir: PathLike | None = None) -> dict[str, str | None]:
    """The environment that makes Hugging Face loaders read only the verified cache, offline.

    ``{name: value}``; ``None`` means the variable must be unset. ``modelguard env`` prints it.
    """
    from modelguard.store.cache import Layout, cache_root

    hub = Layout(cache_root(cache_dir)).hub
    env: dict[str, str | None] = {"HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.update(dict.fromkeys(_LEGACY_CACHE_VARS))
    return env


@contextlib.contextmanager
def hf_offline(cache_dir: PathLike | None = None) -> Iterator[Path]:
    """Inside the block, Hugging Face loaders see only admitted models and make no request.

    Sets ``HF_HUB_CACHE=<cache root>/hub`` and ``HF_HUB_OFFLINE=1`` (see :func:`offline_env`) and
    restores the previous environment on exit. huggingface_hub reads these once, at import; when
    it is already imported, its ``constants`` module is pointed at the verified cache for the
    duration too. Yields the ``hub`` folder. Raises :class:`NotAdmittedError` when nothing was
    ever admitted there (every load would fail anyway, with a less helpful message).
    """
    env = offline_env(cache_dir)
    hub = Path(str(env["HF_HUB_CACHE"]))
    if not hub.is_dir():
        raise NotAdmittedError(f"no verified cache at {hub.parent}; run `modelguard fetch` first", rule="MG-H101")
    saved = {name: os.environ.get(name) for name in env}
    constants = sys.modules.get("huggingface_hub.constants")
    saved_constants = (getattr(constants, "HF_HUB_CACHE", None), getattr(constants, "HF_HUB_OFFLINE", None))
    try:
        _apply(env)
        if constants is not None:
            setattr(constants, "HF_HUB_CACHE", str(hub))  # noqa: B010 (a module's settings, not a typo)
            setattr(constants, "HF_HUB_OFFLINE", True)  # noqa: B010
        yield hub
    finally:
        _apply(saved)
        if constants is not None:
            setattr(constants, "HF_HUB_CACHE", saved_constants[0])  # noqa: B010
            setattr(constants, "HF_HUB_OFFLINE", saved_constants[1])  # noqa: B010


def _apply(env: Mapping[str, str | None]) -> None:
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


class TorchNotInstalledError(UsageError, ModuleNotFoundError):
    """``load_torch`` needs PyTorch: ``pip install 'modelguard[torch]'``."""


def load_torch(path: PathLike, *, fail_on: Severity | str = Severity.MEDIUM, **kwargs: Any) -> Any:
    """``torch.load(path, weights_only=True)``, but only after a scan of the very bytes it loads.

    The file is read once into memory; those bytes are scanned and, when no finding is at or above
    ``fail_on``, handed to ``torch.load`` from memory, so the file cannot change between the check
    and the load. Raises :class:`UnsafeContentError` when the scan (or torch's own weights-only
    unpickler) refuses, :class:`UnreadableError` when the file cannot be read, and
    :class:`TorchNotInstalledError` when PyTorch is missing. ``kwargs`` go to ``torch.load``
    (e.g. ``map_location``); ``weights_only`` is always True.
    """
    from modelguard.scan import scan_bytes

    if "weights_only" in kwargs:
        raise UsageError("load_torch always loads with weights_only=True; do not pass weights_only")
    threshold = _severity(fail_on)
    shown = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UnreadableError(f"{shown}: cannot read ({e.strerror or e})") from None
    result = scan_bytes(data, name=shown)
    failing = [f for f in result.findings if not f.suppressed and threshold <= f.severity]
    if failing:
        first = failing[0]
        more = f" (+{len(failing) - 1} more; run `modelguard scan {shown}`)" if len(failing) > 1 else ""
        raise UnsafeContentError(f"{shown}: refused to load ({result.verdict.value}): {first.rule} {first.message}"
                                 f"{more}", rule=first.rule)
    try:
        torch = importlib.import_module("torch")  # optional extra: typed as Any, imported only here
    except ModuleNotFoundError as e:
        if e.name != "torch":
            raise
        raise TorchNotInstalledError(
            "load_torch needs PyTorch; install it with: python -m pip install 'modelguard[torch]'"
        ) from None
    try:
        return torch.load(io.BytesIO(data), weights_only=True, **kwargs)
    except pickle.UnpicklingError as e:
        # The second gate: torch's own allowlist. Its message is long; keep the line naming the object.
        lines = [line.strip() for line in str(e).splitlines() if "Unsupported" in line or "error:" in line]
        why = lines[0] if lines else "it holds objects that are not tensors"
        raise UnsafeContentError(f"{shown}: torch's weights-only unpickler refused it ({why})") from None
