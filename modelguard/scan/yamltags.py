"""Python object tags in YAML text: configs that run code when a full or unsafe YAML loader reads them.

Owns the review of plain-text files (``config.yaml``, ``hparams.yaml`` or any other name a
training script hands to ``yaml.load``) for the tags PyYAML's full constructors turn into calls
and imports: ``!!python/object/apply:os.system [...]`` calls the callable, ``!!python/object/new:``
and ``!!python/object:`` build an instance (``__new__``, then ``__setstate__``), ``!!python/name:``
and ``!!python/module:`` import. The callable named in each is judged by the pickle allowlist
(:func:`modelguard.scan.pickle.allowlist.classify`): dangerous -> MG-S530 (malicious), not on the
allowlist -> MG-S531 (suspicious). The plain Python data tags (``!!python/tuple``, ``/str`` ...)
build values only.

Tags are read from PyYAML's *event* stream (the parser, never a constructor or loader), so every
spelling the loader accepts is seen resolved: ``%TAG`` directives that rename a handle,
verbatim ``!<tag:yaml.org,2002:python/...>`` tags and %-escapes in the tag. A stream that stops
parsing part-way still reports what came before the error (``load_all`` has constructed the
earlier documents by then). Text that is not YAML yields no event with a tag: nothing to report.
"""

from __future__ import annotations

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan.base import Outcome, ScanContext, Source

_PREFIX = "tag:yaml.org,2002:python/"
_CALLS = ("object/apply:", "object/new:", "object:")
_IMPORTS = ("name:", "module:")
_MARKERS = (b"!!", b"!<", b"%TAG")
"""the only ways a YAML text can spell a tag under tag:yaml.org,2002: (the !! handle, a verbatim
tag, a %TAG directive); text with none of them is not parsed"""
_CHUNK = 1 << 20


def scan_text(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """Findings for Python object tags in a text file (none for ordinary text)."""
    limit = ctx.limits.max_text_bytes
    if source.size > limit:
        return Outcome("text", _too_large(source, limit))
    data = head if len(head) == source.size else source.read_all(limit)
    if not any(m in data for m in _MARKERS):
        return Outcome("text")
    return Outcome("text", review(data, source.name))


def review(data: bytes, location: str) -> list[Finding]:
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the parser only: no constructor runs
    found: list[Finding] = []
    seen: set[str] = set()
    loader = loader_class(data)
    try:
        while loader.check_event():
            tag = getattr(loader.get_event(), "tag", None)
            if isinstance(tag, str) and tag.startswith(_PREFIX) and tag not in seen:
                seen.add(tag)
                found.extend(_judge(tag[len(_PREFIX):], location))
    except (yaml.YAMLError, ValueError, RecursionError):
        pass  # not YAML (or not past this point): a loader stops here too
    finally:
        loader.dispose()
    return found


def _judge(kind: str, location: str) -> list[Finding]:
    from modelguard.scan.pickle.allowlist import Safety, classify

    call = next((p for p in _CALLS if kind.startswith(p)), None)
    imports = next((p for p in _IMPORTS if kind.startswith(p)), None)
    if call is None and imports is None:
        return []  # python/tuple, python/str, python/none ...: plain values
    target = kind[len(call or imports or ""):]
    if imports == "module:":
        module, name = target, "__name__"  # importing the module is what the tag does
    else:
        module, _, name = target.rpartition(".")
        module = module or "builtins"
    verdict = classify(module, name)
    what = "calls" if call == "object/apply:" else "builds an instance of" if call else "imports"
    if verdict in (Safety.DANGEROUS, Safety.GUARDED):
        return [finding("MG-S530", f"!!python/{kind.split(':')[0]} {what} {target}, which can run code or touch "
                        "files or the network, when a full or unsafe YAML loader reads it", location=location)]
    if verdict is Safety.UNKNOWN:
        return [finding("MG-S531", f"!!python/{kind.split(':')[0]} {what} {target}, which is not on the "
                        "allowlist, when a full or unsafe YAML loader reads it", location=location)]
    return []


def _too_large(source: Source, limit: int) -> list[Finding]:
    """A text file over the analysis limit: searched in chunks for a Python tag, parsed no further."""
    with source.open() as f:
        tail = b""
        while chunk := f.read(_CHUNK):
            window = tail + chunk
            if b"python/" in window or b"%TAG" in window or b"!<" in window:
                return [finding("MG-S531", f"a text file of {source.size} bytes (over the {limit}-byte analysis "
                                "limit) spells YAML Python tags or tag directives; it was not parsed",
                                location=source.name)]
            tail = window[-16:]
    return []
