"""Loading models in Python code: only verified bytes, with no change to existing loaders.

* :func:`hf_offline` / :func:`offline_env`: point Hugging Face loaders (transformers, diffusers,
  sentence-transformers) at the verified cache, offline, so they can load only admitted models.
* :func:`load_torch`: scan a checkpoint's bytes, then ``torch.load`` those very bytes.
* :func:`load_safetensors`: scan a safetensors file's bytes (modelguard's own header reader), then
  hand those very bytes to the reference ``safetensors`` parser.

Re-exported by :mod:`modelguard.api` and the package. Must not download or admit anything (the
cache check before hand-over may refresh fingerprints, :mod:`modelguard.flows.recheck`); PyTorch is
optional and imported only inside the loaders that need it.
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
from modelguard.models import Severity, failing, parse_fail_on

PathLike = str | os.PathLike[str]


# Variables that older transformers, sentence-transformers and diffusers read *instead of*
# HF_HUB_CACHE: left set, they would let a loader read a cache modelguard never verified.
_LEGACY_CACHE_VARS = (
    "HUGGINGFACE_HUB_CACHE",
    "TRANSFORMERS_CACHE",
    "PYTORCH_TRANSFORMERS_CACHE",
    "PYTORCH_PRETRAINED_BERT_CACHE",
    "SENTENCE_TRANSFORMERS_HOME",
)


def offline_env(cache_dir: PathLike | None = None, *, check: bool = True,
                manifest: PathLike | None = None) -> dict[str, str | None]:
    """The environment that makes Hugging Face loaders read only the verified cache, offline.

    ``{name: value}``; ``None`` means the variable must be unset. ``modelguard env`` prints it. With
    ``check`` (the default) the cache is checked first, whole (:func:`modelguard.flows.serve.require_servable`:
    nothing un-admitted in ``hub/``, every admitted snapshot sound), and the refusal raised instead of
    an environment that would let a loader read something modelguard did not admit. ``manifest``: judge
    the admitted files by its policy (default: the scanner and the default file policy).
    """
    from modelguard.store.cache import Layout, cache_root

    hub = Layout(cache_root(cache_dir)).hub
    if check and hub.is_dir():
        from modelguard.flows.serve import require_servable

        require_servable(cache_dir, manifest=_manifest(manifest))
    env: dict[str, str | None] = {"HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.update(dict.fromkeys(_LEGACY_CACHE_VARS))
    return env


def closed_env(cache_dir: PathLike | None = None) -> dict[str, str | None]:
    """What ``modelguard env`` prints when it refuses the cache: loaders stay offline and pointed at a
    folder that does not exist, so ``eval "$(modelguard env)"`` without checking its exit status still
    loads nothing (failing closed, never falling back to the network or the user's own cache)."""
    env = offline_env(cache_dir, check=False)
    env["HF_HUB_CACHE"] = str(Path(str(env["HF_HUB_CACHE"])).parent / "refused-by-modelguard-see-verify")
    return env


def _manifest(path: PathLike | None) -> Any:
    if path is None:
        return None
    from modelguard.spec.manifest import load_manifest

    return load_manifest(os.fspath(path))


@contextlib.contextmanager
def hf_offline(cache_dir: PathLike | None = None, *, manifest: PathLike | None = None) -> Iterator[Path]:
    """Inside the block, Hugging Face loaders see only admitted models and make no request.

    The cache is checked first, whole (see :func:`offline_env`): anything in ``hub/`` that was not
    admitted, or an admitted snapshot that fails its recheck, raises the refusal before the block
    runs. Sets ``HF_HUB_CACHE=<cache root>/hub`` and ``HF_HUB_OFFLINE=1`` and restores the previous
    environment on exit. huggingface_hub reads these once, at import; when it is already imported,
    its ``constants`` module is pointed at the verified cache for the duration too. Yields the
    ``hub`` folder. Raises :class:`NotAdmittedError` when nothing was ever admitted there.
    """
    from modelguard.store.cache import Layout, cache_root

    if not Layout(cache_root(cache_dir)).hub.is_dir():
        raise NotAdmittedError(f"no verified cache at {cache_root(cache_dir)}; run `modelguard fetch` first",
                               rule="MG-H101")
    env = offline_env(cache_dir, manifest=manifest)
    hub = Path(str(env["HF_HUB_CACHE"]))
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


def _read_and_scan(path: PathLike, threshold: Severity, what: str) -> bytes:
    """The file's bytes, read once and scanned; raises :class:`UnsafeContentError` when they fail."""
    from modelguard.scan import scan_bytes

    shown = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UnreadableError(f"{shown}: cannot read ({e.strerror or e})") from None
    result = scan_bytes(data, name=shown)
    refused = failing(result.findings, threshold)
    if refused:
        first = refused[0]
        more = f" (+{len(refused) - 1} more; run `modelguard scan {shown}`)" if len(refused) > 1 else ""
        raise UnsafeContentError(f"{shown}: refused to load ({result.verdict.value}): {first.rule} {first.message}"
                                 f"{more}", rule=first.rule)
    if what and result.format != what:
        raise UnsafeContentError(f"{shown}: is {result.format} by its content, not {what}; refused to load it as "
                                 f"{what}")
    return data


_SAFETENSORS_FRAMEWORKS = {"numpy": "safetensors.numpy", "pt": "safetensors.torch"}


def load_safetensors(path: PathLike, *, framework: str = "numpy", fail_on: Severity | str = Severity.MEDIUM) -> Any:
    """The tensors of a safetensors file, parsed only after modelguard checked the very bytes parsed.

    The file is read once; modelguard's header reader validates those bytes (framing, dtypes, shapes,
    byte ranges) and, when nothing fails at ``fail_on``, the same bytes go to the reference parser:
    ``safetensors.numpy.load`` (``framework="numpy"``, the default) or ``safetensors.torch.load``
    (``"pt"``). Two independent parsers must agree before a tensor is handed out, and the file cannot
    change between the check and the load. Raises :class:`UnsafeContentError` when either refuses or
    the content is not safetensors, :class:`UnreadableError` when the file cannot be read, and
    :class:`UsageError` for an unknown ``framework`` or one whose library is not installed.
    """
    module_name = _SAFETENSORS_FRAMEWORKS.get(framework)
    if module_name is None:
        raise UsageError(f"framework={framework!r}: use one of {', '.join(sorted(_SAFETENSORS_FRAMEWORKS))}")
    data = _read_and_scan(path, parse_fail_on(fail_on, where="fail_on") or Severity.MEDIUM, "safetensors")
    from safetensors import SafetensorError

    try:
        loader = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        missing = "torch" if framework == "pt" else (e.name or "numpy")
        raise UsageError(f"load_safetensors(framework={framework!r}) needs {missing}; install it with: "
                         f"python -m pip install {missing}") from None
    try:
        return loader.load(data)
    except (SafetensorError, ValueError) as e:  # the reference parser's own refusal
        raise UnsafeContentError(f"{os.fspath(path)}: the safetensors parser refused it "
                                 f"({type(e).__name__})") from None


def load_torch(path: PathLike, *, fail_on: Severity | str = Severity.MEDIUM, **kwargs: Any) -> Any:
    """``torch.load(path, weights_only=True)``, but only after a scan of the very bytes it loads.

    The file is read once into memory; those bytes are scanned and, when no finding is at or above
    ``fail_on``, handed to ``torch.load`` from memory, so the file cannot change between the check
    and the load. Raises :class:`UnsafeContentError` when the scan (or torch's own weights-only
    unpickler) refuses, :class:`UnreadableError` when the file cannot be read, and
    :class:`TorchNotInstalledError` when PyTorch is missing. ``kwargs`` go to ``torch.load``
    (e.g. ``map_location``); ``weights_only`` is always True.
    """
    if "weights_only" in kwargs:
        raise UsageError("load_torch always loads with weights_only=True; do not pass weights_only")
    shown = os.fspath(path)
    data = _read_and_scan(path, parse_fail_on(fail_on, where="fail_on") or Severity.MEDIUM, "")
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
