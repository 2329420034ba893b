"""Keras model configs: code-carrying layers in ``.keras`` config.json and legacy ``.h5`` files.

Owns :func:`analyse_config` (used by the JSON scanner for a ``.keras`` archive's
``config.json``, reached by content through the zip reader) and :func:`scan_hdf5` for legacy
HDF5 models, where Keras keeps the same JSON in the root attribute ``model_config``.

Flags Lambda layers (Keras 2 stores marshalled bytecode in ``function``; Keras 3 a
``__lambda__`` object), callables from dangerous modules and known loader gadgets
(``enable_unsafe_deserialization``, ``get_file``, ``TFSMLayer``, ``TorchModuleWrapper``),
objects from modules outside Keras, and layer configs that read files or URLs.

Legacy ``.h5`` files are read by structure in :mod:`modelguard.scan.hdf5`, which hands every
Keras config it finds in an attribute to :func:`analyse_config`. :func:`scan_hdf5` is the byte
search that reader falls back on when a file does not parse (the attribute's JSON text is stored
contiguously, so it is found by scanning the bytes, bounded, and parsed with ``json``); a file
that names a ``model_config`` whose JSON cannot be found or parsed is unscannable, never clean.
Must not import Keras, deserialize layers or run any bytecode it finds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan.base import Outcome, ScanContext, ScanLimitError, Source

# Keras itself and the official Keras model libraries (KerasHub presets on the Hub name these).
_KERAS_MODULES = ("keras", "tf_keras", "keras_hub", "keras_nlp", "keras_cv", "keras_rs")
_DANGEROUS_MODULES = frozenset("""os posix nt subprocess sys builtins importlib runpy code pty ctypes shutil
    socket pickle marshal dill shelve webbrowser requests urllib http""".split())
_SAFE_BUILTINS = frozenset("abs all any bool dict float int len list max min pow range round set slice sorted str "
                           "sum tuple zip".split())
# Keras' own functions and layers that fetch files, load other serialized code, or turn off safe mode.
_GADGETS = frozenset("""enable_unsafe_deserialization get_file TFSMLayer TorchModuleWrapper load_model
    load_weights deserialize_keras_object func_load model_from_json model_from_yaml""".split())
# tf.keras wraps TensorFlow API calls as TFOpLambda layers naming the function ("math.add"); these
# parts of the API touch files, run Python, or reach raw kernels.
_TF_OP_DANGEROUS = ("io.", "raw_ops.", "py_function", "numpy_function", "py_func", "gfile.", "debugging.",
                    "print", "saved_model.", "keras.", "data.experimental.", "summary.")
_PATH_KEYS = frozenset("vocabulary filepath file_path path origin fname url saved_model_dir model_path".split())
_URL_PREFIXES = ("http://", "https://", "ftp://", "file://", "gs://", "s3://", "hdfs://", "hf://")
_MAX_REPORTED = 50


def is_keras_config(doc: object) -> bool:
    """A Keras model (or layer) config: ``{"class_name": ..., "config": ...}``."""
    return isinstance(doc, dict) and isinstance(doc.get("class_name"), str) and "config" in doc


def analyse_config(doc: Any, loc: str) -> list[Finding]:
    """Findings for a parsed Keras config; ``loc`` prefixes each location."""
    out: list[Finding] = []
    lambdas: list[str] = []
    for path, node in _walk(doc, ""):
        for f in _check(node, f"{loc}:{path}" if loc else path):
            if f.rule == "MG-S501":
                # A Lambda layer's own function object is the same finding, not a second one.
                if any(f.location.startswith(done + "/") for done in lambdas):
                    continue
                lambdas.append(f.location)
            out.append(f)
        if len(out) >= _MAX_REPORTED:
            out.append(finding("MG-S503", "more findings not listed", location=loc))
            break
    return out


def _walk(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    stack: list[tuple[str, Any]] = [(path, node)]
    while stack:
        p, n = stack.pop()
        if isinstance(n, dict):
            yield p or "/", n
            stack.extend((f"{p}/{k}", v) for k, v in reversed(list(n.items())))
        elif isinstance(n, list):
            stack.extend((f"{p}/{i}", v) for i, v in reversed(list(enumerate(n))))


def _check(node: dict[str, Any], loc: str) -> list[Finding]:
    out: list[Finding] = []
    cls, module, registered = node.get("class_name"), node.get("module"), node.get("registered_name")
    config = node.get("config")
    layer = config.get("name") if isinstance(config, dict) else None
    label = f"layer {layer!r}" if isinstance(layer, str) else "object"
    if _leaf(cls) == "Lambda" or _leaf(registered) == "Lambda":
        out.append(finding("MG-S501", f"Lambda {label} runs Python code{_lambda_detail(config)}", location=loc))
    elif cls == "__lambda__":
        out.append(finding("MG-S501", "serialized Python lambda (base64 bytecode)", location=loc))
    elif node.get("function_type") == "lambda":
        out.append(finding("MG-S501", "function stored as marshalled Python bytecode", location=loc))
    if cls in ("TFOpLambda", "SlicingOpLambda") and isinstance(config, dict):
        fn = config.get("function")
        if not isinstance(fn, str) or _tf_api_name(fn).startswith(_TF_OP_DANGEROUS):
            out.append(finding("MG-S502", f"{label} calls TensorFlow function {fn!r}", location=loc))
    if isinstance(module, str) and isinstance(cls, str):
        target = config if cls == "function" and isinstance(config, str) else cls
        out.extend(_callable(module, target, registered, label, loc))
    elif _leaf(cls) in _GADGETS:
        out.append(finding("MG-S502", f"{label} is the loader gadget {cls}", location=loc))
    if isinstance(config, dict):
        for key in _PATH_KEYS & set(config):
            value = config[key]
            if isinstance(value, str) and _is_external(value):
                out.append(finding("MG-S504", f"{label} {key} points at {value!r}", location=f"{loc}/config/{key}"))
    return out


def _pickle_denylisted(module: str, name: str) -> bool:
    """Whether the pickle denylist knows ``module.name`` runs code or touches files: Keras imports a
    config's ``module`` the way pickle imports a global, so the same gadgets apply."""
    from modelguard.scan.pickle.allowlist import Safety, classify

    return classify(module, name) is Safety.DANGEROUS


def _leaf(name: object) -> str:
    """The object a Keras name resolves to: Keras looks ``module + "." + name`` up in its API
    table, so ``{"module": "keras", "class_name": "layers.Lambda"}`` is the Lambda layer and
    ``"utils.get_file"`` the get_file function; a registered name is ``package>Name``."""
    return name.split(">")[-1].rsplit(".", 1)[-1] if isinstance(name, str) else ""


def _tf_api_name(symbol: str) -> str:
    """A TensorFlow API symbol without ``tf.`` and the ``compat.v1.``/``compat.v2.`` aliases that
    TensorFlow exports for the same functions (``compat.v1.raw_ops.WriteFile``)."""
    name = symbol.removeprefix("tf.")
    while name.startswith(("compat.v1.", "compat.v2.")):
        name = name[len("compat.v1."):]
    return name


def _callable(module: str, target: str, registered: Any, label: str, loc: str) -> list[Finding]:
    full = f"{module}.{target}"
    top = module.split(".")[0]
    name = _leaf(target)
    if module == "builtins" and name in _SAFE_BUILTINS:
        return []
    if top in _DANGEROUS_MODULES or (top not in _KERAS_MODULES and _pickle_denylisted(module, name)):
        return [finding("MG-S502", f"{label} calls {full}", location=loc)]
    if name in _GADGETS:
        return [finding("MG-S502", f"{label} uses the loader gadget {full}", location=loc)]
    if top not in _KERAS_MODULES:
        return [finding("MG-S503", f"{label} comes from module {module!r} ({target})", location=loc)]
    if isinstance(registered, str) and ">" in registered and not registered.startswith("keras"):
        return [finding("MG-S503", f"{label} is the custom registered object {registered!r}", location=loc)]
    return []


def _lambda_detail(config: Any) -> str:
    if not isinstance(config, dict):
        return ""
    fn = config.get("function")
    if config.get("function_type") == "lambda" or isinstance(fn, list):
        return " (marshalled bytecode in 'function')"
    if isinstance(fn, dict):
        if fn.get("class_name") == "__lambda__":
            return " (serialized lambda bytecode in 'function')"
        target = fn.get("config") if isinstance(fn.get("config"), str) else fn.get("class_name")
        return f" ({fn.get('module', '?')}.{target})"
    if isinstance(fn, str):
        return f" ({config.get('module', '?')}.{fn})"
    return ""


def _is_external(value: str) -> bool:
    v = value.strip()
    return (v.lower().startswith(_URL_PREFIXES) or v.startswith(("/", "\\", "~")) or ".." in v
            or bool(re.match(r"^[A-Za-z]:[\\/]", v)) or ("/" in v and "\n" not in v))


# ---- legacy HDF5 --------------------------------------------------------------------------

_FRACTAL_HEAP = re.compile(rb"FRHP\x00")
_CANDIDATE = re.compile(rb"\{\s{0,16}\"(?:[A-Za-z_]|\\u)")
_CHUNK = 1 << 20
_FIRST_WINDOW = 1 << 14
_MAX_CANDIDATES = 100_000


def scan_hdf5(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """Find the Keras model config JSON stored in an HDF5 file's bytes and analyse it (the
    fallback for files the structural reader cannot parse)."""
    found = _find_configs(ctx, source)
    loc = "model_config" if ctx.depth == 0 else f"{source.name}:model_config"
    out: list[Finding] = []
    if found.filtered_heap_at is not None:
        # Attribute names and values in a filtered (compressed) heap are invisible to a byte
        # search: what cannot be read cannot be called clean.
        out.append(finding("MG-S505", "attributes are stored in a compressed heap that modelguard cannot read",
                           location=f"{loc}@offset {found.filtered_heap_at}"))
    if not found.configs:
        if found.named:
            out.append(finding("MG-S505", "model_config is named but its JSON was not found or does not parse",
                               location=loc))
        # else: weights only (save_weights, tf_model.h5), which load_model refuses.
        return Outcome("hdf5", out)
    for offset, doc in found.configs:
        out.extend(analyse_config(doc, f"{loc}@offset {offset}"))
    return Outcome("keras-h5" if found.named else "hdf5", out)


@dataclass
class _Found:
    configs: list[tuple[int, Any]] = field(default_factory=list)
    """(offset, parsed JSON) of every Keras-config-shaped object in the file"""
    named: bool = False
    """the attribute name ``model_config`` appears in the file"""
    filtered_heap_at: int | None = None
    """offset of a fractal heap (dense attribute storage) that has I/O filters"""


def _find_configs(ctx: ScanContext, source: Source) -> _Found:
    found = _Found()
    candidates = 0
    skip_to = 0
    with source.open() as f:
        pos = 0
        tail = b""
        while pos < source.size:
            f.seek(pos)
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            window = tail + chunk
            base = pos - len(tail)
            found.named = found.named or b"model_config" in window
            for m in _FRACTAL_HEAP.finditer(window):
                # "FRHP", version 0, heap-ID length (2 bytes), I/O filters' encoded length (2 bytes)
                filters = window[m.start() + 7:m.start() + 9]
                if len(filters) == 2 and filters != b"\0\0" and found.filtered_heap_at is None:
                    found.filtered_heap_at = base + m.start()
            for m in _CANDIDATE.finditer(window):
                start = base + m.start()
                if start < skip_to:
                    continue
                candidates += 1
                if candidates > _MAX_CANDIDATES:
                    raise ScanLimitError(f"more than {_MAX_CANDIDATES} JSON-like fragments", source.name)
                parsed = _parse_at(f, start, source.size, ctx.limits.max_text_bytes)
                if parsed is not None:
                    doc, end = parsed
                    if is_keras_config(doc):
                        found.configs.append((start, doc))
                        skip_to = end
            pos += len(chunk)
            tail = window[-32:]
    return found


def _parse_at(f: Any, start: int, size: int, limit: int) -> tuple[Any, int] | None:
    """Decode one JSON object at ``start``, growing the window while the parse runs off its end."""
    n = _FIRST_WINDOW
    decoder = json.JSONDecoder()
    while True:
        f.seek(start)
        raw = f.read(min(n, size - start))
        text = raw.decode("utf-8", errors="replace")
        try:
            doc, end = decoder.raw_decode(text)
        except RecursionError:
            return None
        except json.JSONDecodeError as e:
            if e.pos >= len(text) - 1 and len(raw) == n and n < limit:
                n = min(n * 4, limit)
                continue
            return None
        return doc, start + len(text[:end].encode("utf-8", errors="replace"))
