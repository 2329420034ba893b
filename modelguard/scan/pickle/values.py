"""The values the pickle analyser puts on its model stack and memo.

A pickle is modelled by value, never executed: primitives are real Python values, imports
are :class:`GlobalRef`, anything that would only exist after running code (a call, an
instance, a persistent object, an oversized payload) is an :class:`Obj` standing for it.
Pure; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RETAIN = 100_000
"""items kept per container; beyond this they are counted and dropped (never needed for safety)"""


@dataclass(frozen=True)
class GlobalRef:
    """An import the loader would perform: ``find_class(module, name)``."""

    module: str
    name: str

    def __str__(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class Guarded:
    """A guarded import (``getattr``, fx's ``reduce_graph_module``): pushed instead of its
    :class:`GlobalRef` so that every use is visible. The machine checks each call of it; passed
    anywhere a callable could call it, it is reported as the dangerous import it is."""

    ref: GlobalRef

    def __str__(self) -> str:
        return str(self.ref)


@dataclass(eq=False)
class Obj:
    """A value that only exists at load time.

    ``kind``: ``call`` (REDUCE/INST/OBJ), ``new`` (NEWOBJ), ``ext`` (EXT code), ``persistent``,
    ``buffer``, ``opaque`` (a skipped payload, e.g. a 2 GB string), ``array`` (joblib array).
    """

    kind: str
    func: object = None
    args: object = None
    state: object = None
    built: bool = False
    items: DictVal | None = None
    """SETITEM pairs stored into it (a dict built by a call, e.g. ``OrderedDict()``)"""


@dataclass(eq=False)
class _Items:
    """Items kept up to RETAIN; the rest only counted (a huge container is not held in memory)."""

    items: list[object] = field(default_factory=list)
    dropped: int = 0

    def add(self, value: object) -> None:
        if len(self.items) < RETAIN:
            self.items.append(value)
        else:
            self.dropped += 1

    def add_all(self, values: list[object]) -> None:
        """``add`` of each value, in one step."""
        kept = values[:max(RETAIN - len(self.items), 0)]
        self.items.extend(kept)
        self.dropped += len(values) - len(kept)


@dataclass(eq=False)
class ListVal(_Items):
    pass


@dataclass(eq=False)
class DictVal:
    pairs: list[tuple[object, object]] = field(default_factory=list)
    dropped: int = 0

    def add(self, key: object, value: object) -> None:
        if len(self.pairs) < RETAIN:
            self.pairs.append((key, value))
        else:
            self.dropped += 1

    def add_flat(self, items: list[object]) -> None:
        """``add`` of each (key, value) of ``items`` laid out key, value, key, value..."""
        pairs = list(zip(items[0::2], items[1::2], strict=True))  # callers check the length is even
        kept = pairs[:max(RETAIN - len(self.pairs), 0)]
        self.pairs.extend(kept)
        self.dropped += len(pairs) - len(kept)

    def get(self, key: str) -> object:
        """The last value stored under ``key`` (later SETITEMs win), or None."""
        found: object = None
        for k, v in self.pairs:
            if k == key:
                found = v
        return found

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self.pairs)


@dataclass(eq=False)
class SetVal(_Items):
    frozen: bool = False


class NotStatic(Exception):
    """Raised by :func:`to_static` for a value that is not plain data."""


_PLAIN = (str, bytes, int, float, bool, type(None), complex)
_MAX_DEPTH = 64


def to_static(value: object, *, globals_ok: bool, depth: int = 0) -> object:
    """The plain Python value ``value`` stands for; raises NotStatic when it is not plain data.

    With ``globals_ok`` an import stays a :class:`GlobalRef` (used for persistent ids).
    """
    if depth > _MAX_DEPTH:
        raise NotStatic("too deep")
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, GlobalRef | Guarded):
        if globals_ok:
            return value.ref if isinstance(value, Guarded) else value
        raise NotStatic("import")
    if isinstance(value, tuple):
        return tuple([v if isinstance(v, _PLAIN) else to_static(v, globals_ok=globals_ok, depth=depth + 1)
                      for v in value])
    if isinstance(value, ListVal) and not value.dropped:
        return [v if isinstance(v, _PLAIN) else to_static(v, globals_ok=globals_ok, depth=depth + 1)
                for v in value.items]
    if isinstance(value, DictVal) and not value.dropped:
        out: dict[object, object] = {}
        for k, v in value.pairs:
            key = to_static(k, globals_ok=globals_ok, depth=depth + 1)
            try:
                out[key] = to_static(v, globals_ok=globals_ok, depth=depth + 1)
            except TypeError:  # an unhashable key fails at load time too
                raise NotStatic("unhashable key") from None
        return out
    raise NotStatic(type(value).__name__)


def static_or_none(value: object, *, globals_ok: bool) -> object | None:
    try:
        return to_static(value, globals_ok=globals_ok)
    except NotStatic:
        return None


def describe(value: object) -> str:
    """A short human description of a model value, for findings."""
    if isinstance(value, GlobalRef | Guarded):
        return str(value)
    if isinstance(value, Obj):
        if value.kind in ("call", "new") and isinstance(value.func, GlobalRef):
            return f"the result of calling {value.func}"
        return f"a {value.kind} value built at load time"
    if isinstance(value, str | bytes):
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return type(value).__name__ if not isinstance(value, ListVal | DictVal | SetVal) else "a container"
