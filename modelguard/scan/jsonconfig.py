"""JSON files of a model repository: what they make a loader import or render.

Owns the findings for ``config.json``-style files (``auto_map`` and ``custom_pipelines``
naming remote code, cross-repository references, ``trust_remote_code`` hints),
tokenizer configs (``chat_template``, string or list, handed to
:mod:`modelguard.scan.templates`) and Keras model configs (``class_name``/``config``,
handed to :func:`modelguard.scan.keras.analyse_config`), whichever file name they carry:
a ``.keras`` archive's ``config.json`` reaches this module by content through the zip reader.

Parses with the same ``json`` module transformers uses, so what is checked is what the loader
reads; text is bounded by ``Limits.max_text_bytes``. Must not import any referenced code.

The trust-remote-code policy reads a config's ``auto_map`` from this module's findings
(:func:`auto_map_findings`), never by parsing the file again, so the policy and the scan cannot
disagree on whether a config makes a loader import code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from modelguard.models import Finding, Severity
from modelguard.report.rules import finding
from modelguard.scan.base import Outcome, ScanContext, ScanLimitError, Source
from modelguard.scan.keras import analyse_config, is_keras_config
from modelguard.scan.templates import check_template

Locator = Callable[[str], str]

AUTO_MAP = "auto_map"


def auto_map_findings(findings: Iterable[Finding]) -> list[Finding]:
    """The findings :func:`scan` made about a top-level config's ``auto_map``: each entry that makes a
    loader import code (MG-S311, MG-S312 from another repository) or that is not understood (MG-S311)."""
    return [f for f in findings if f.rule in ("MG-S311", "MG-S312")
            and (f.location == AUTO_MAP or f.location.startswith(AUTO_MAP + "."))]


def location(ctx: ScanContext, source: Source, part: str) -> str:
    """``part`` at top level (the report already names the file); ``member:part`` when nested."""
    if ctx.depth == 0:
        return part
    return f"{source.name}:{part}" if part else source.name


def scan(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """Parse one JSON document (or JSON lines) and review what it configures."""
    data = source.read_all(ctx.limits.max_text_bytes)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return Outcome("json", [finding("MG-S313", f"not UTF-8 (byte {e.start})", location=location(ctx, source, ""))])
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ScanLimitError("JSON nested too deeply to analyse", source.name) from None
    except ValueError as e:
        if _is_json_lines(text):
            return Outcome("json")
        first = _first_line_value(text, e)
        if first is not None:
            # Text whose first line happens to parse (konlpy's word lists start "[1]"): json.load stops
            # at "Extra data", so no JSON loader reads it; what that first value would configure is
            # still reviewed, for a loader that reads only the first value.
            return Outcome("text", review(first[0], lambda part: location(ctx, source, part)))
        return Outcome("json", [finding("MG-S313", f"not valid JSON: {e}", location=location(ctx, source, ""))])
    return Outcome("json", review(doc, lambda part: location(ctx, source, part)))


def _first_line_value(text: str, error: ValueError) -> tuple[Any] | None:
    """(the JSON value on the first line,) when that line is followed by lines that are not JSON."""
    if not isinstance(error, json.JSONDecodeError) or error.msg != "Extra data":
        return None
    value_text = text[:error.pos]  # the value and the whitespace after it (the error points at the extra data)
    value = value_text.strip()
    if "\n" in value or "\n" not in value_text[len(value_text.rstrip()):]:
        return None  # a value over several lines, or more on its line: a broken document, not text
    try:
        return (json.loads(value),)
    except (ValueError, RecursionError):
        return None


def _is_json_lines(text: str) -> bool:
    """JSON Lines (datasets, logs): every non-empty line is a JSON value of its own."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2:
        return False
    try:
        for ln in lines:
            json.loads(ln)
    except (ValueError, RecursionError):
        return False
    return True


def review(doc: Any, loc: Locator) -> list[Finding]:
    """Findings for a parsed JSON document; ``loc(part)`` makes a location string."""
    if isinstance(doc, list):
        return _sentence_transformers_modules(doc, loc)
    if not isinstance(doc, dict):
        return []
    out: list[Finding] = []
    if "_diffusers_version" in doc:
        out.extend(_diffusers_components(doc, loc))
    out.extend(_auto_map(doc.get("auto_map"), loc))
    out.extend(_custom_pipelines(doc.get("custom_pipelines"), loc))
    if doc.get("trust_remote_code") is True:
        out.append(finding("MG-S311", "config asks for trust_remote_code", location=loc("trust_remote_code"),
                           severity=Severity.INFO))
    out.extend(_chat_templates(doc, loc))
    if is_keras_config(doc):
        out.extend(analyse_config(doc, loc("")))
    return out


def _code_refs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _auto_map(auto_map: Any, loc: Locator) -> list[Finding]:
    if auto_map is None:
        return []
    if not isinstance(auto_map, dict):
        return [finding("MG-S311", "auto_map is present but not an object; a loader may still import code from it",
                        location=loc("auto_map"))]
    out: list[Finding] = []
    for auto_class, value in auto_map.items():
        refs = _code_refs(value)
        for ref in refs:
            out.append(_reference(ref, f"auto_map.{auto_class}", loc))
        if not refs and not _no_code(value):
            # Fail closed: a value that is neither a module reference nor empty is not understood.
            out.append(finding("MG-S311", f"auto_map.{auto_class} is not a module reference modelguard can read; "
                               "a loader may still import code from it", location=loc(f"auto_map.{auto_class}")))
    return out


def _no_code(value: Any) -> bool:
    """``null`` or a list of nulls (a tokenizer pair without a slow or fast class) names no code."""
    return value is None or (isinstance(value, list) and all(v is None for v in value))


def _reference(ref: str, where: str, loc: Locator) -> Finding:
    # transformers: "org/repo--module.Class" loads module.py from another repository.
    if "--" in ref:
        repo, _, target = ref.partition("--")
        return finding("MG-S312", f"{where} imports {target} from repository {repo}", location=loc(where))
    module = ref.rpartition(".")[0] or ref
    return finding("MG-S311", f"{where} imports {ref} from {module}.py", location=loc(where))


def _custom_pipelines(pipelines: Any, loc: Locator) -> list[Finding]:
    if pipelines is None:
        return []
    if not isinstance(pipelines, dict):
        return [finding("MG-S311", "custom_pipelines is present but not an object", location=loc("custom_pipelines"))]
    out: list[Finding] = []
    for task, spec in pipelines.items():
        # "impl" names the pipeline's own module; "pt"/"tf" name transformers Auto classes.
        refs = _code_refs(spec.get("impl")) if isinstance(spec, dict) else _code_refs(spec)
        for ref in refs:
            out.append(_reference(ref, f"custom_pipelines.{task}", loc))
        if not refs:
            out.append(finding("MG-S311", f"custom pipeline {task!r} names code",
                               location=loc(f"custom_pipelines.{task}")))
    return out


# Libraries diffusers loads pipeline components from without any code of the repository's own.
_DIFFUSERS_LIBRARIES = frozenset({"diffusers", "transformers", "onnxruntime", "onnxruntime.training", "peft",
                                  "sentence_transformers"})


def _diffusers_components(doc: dict[str, Any], loc: Locator) -> list[Finding]:
    """model_index.json: ``"unet": ["diffusers", "UNet2DConditionModel"]``; any other library
    (or a list-valued ``_class_name``) is a module of the repository that diffusers imports."""
    out: list[Finding] = []
    cls = doc.get("_class_name")
    if isinstance(cls, list) and cls and isinstance(cls[0], str):
        out.append(finding("MG-S311", f"custom pipeline class {cls[-1]!r} from {cls[0]}.py",
                           location=loc("_class_name")))
    for key, value in doc.items():
        if key.startswith("_") or not isinstance(value, list) or len(value) != 2:
            continue
        if key.endswith("_block_types"):
            # A UNet/VAE config (unet/config.json) lists its block classes, e.g. two
            # "DownBlock2D"; pipelines never load a component under such a key.
            continue
        library = value[0]
        if isinstance(library, str) and library not in _DIFFUSERS_LIBRARIES:
            out.append(finding("MG-S311", f"component {key!r} is {value[1]!r} from module {library!r}",
                               location=loc(key)))
    return out


def _sentence_transformers_modules(doc: list[Any], loc: Locator) -> list[Finding]:
    """modules.json: each ``type`` is a dotted path sentence-transformers imports."""
    out: list[Finding] = []
    for i, entry in enumerate(doc):
        if not (isinstance(entry, dict) and "type" in entry and "path" in entry):
            continue
        kind = entry["type"]
        if not isinstance(kind, str) or not kind.startswith("sentence_transformers."):
            out.append(finding("MG-S311", f"module {entry.get('name', i)!r} imports {kind!r}",
                               location=loc(f"[{i}].type")))
    return out


def _chat_templates(doc: dict[str, Any], loc: Locator, prefix: str = "", depth: int = 0) -> list[Finding]:
    """Every value under a key naming a template, at the top level or nested a few levels down
    (processor and chat_template.json files wrap the tokenizer's)."""
    out: list[Finding] = []
    for key, value in doc.items():
        where = f"{prefix}{key}"
        if "template" not in key:
            if isinstance(value, dict) and depth < 3:
                out.extend(_chat_templates(value, loc, f"{where}.", depth + 1))
            continue
        if isinstance(value, str):
            out.extend(check_template(value, loc(where)))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict) and isinstance(item.get("template"), str):
                    out.extend(check_template(item["template"], loc(f"{where}[{item.get('name', i)}]")))
                elif isinstance(item, str):
                    out.extend(check_template(item, loc(f"{where}[{i}]")))
        elif isinstance(value, dict):
            for name, tmpl in value.items():
                if isinstance(tmpl, str):
                    out.extend(check_template(tmpl, loc(f"{where}.{name}")))
    return out
