"""What a call in a pickle does, for the callables the analyser looks at more closely than "an import is called".

Owns :class:`CallModel`, the part of the machine that models REDUCE/NEWOBJ/OBJ/INST calls and the
state BUILD installs:

* allowlisted callables that call an argument (``defaultdict``, ``copyreg._reconstructor`` ...)
  or ``setattr`` an argument's keys (tensor rebuilds with state) get those arguments checked;
* ``functools.partial``: building one calls nothing; calling one is a call of its target with
  the stored arguments and the new ones, modelled as exactly that call (partials of partials too);
* guarded imports (``getattr``, fx's ``reduce_graph_module``, see
  :data:`~modelguard.scan.pickle.allowlist.GUARDED_GLOBALS`): each call is checked (a static
  ``getattr`` is an import; graph code is reviewed by :mod:`~modelguard.scan.pickle.fxgraph`), and a
  guarded import handed to anything that could call it unchecked is reported as dangerous;
* nested unpicklers (``pickle.loads``, ``torch.load``, ``torch.storage._load_from_bytes`` ...)
  called on bytes stored in the pickle: those bytes are scanned as a file of their own, one
  level deeper, and their findings reported with their path;
* ``copyreg.add_extension(module, name, code)``: remembered, so a later EXT opcode with that
  code is the import it registered.

Never executes anything.
"""

from __future__ import annotations

import re

from modelguard.scan.base import BytesSource, ScanLimitError
from modelguard.scan.pickle import packs
from modelguard.scan.pickle.stack import StackMachine
from modelguard.scan.pickle.values import DictVal, GlobalRef, Guarded, ListVal, Obj, SetVal, describe

_DUNDER = re.compile(r"^__\w+__$")
GETATTR = frozenset({GlobalRef("builtins", "getattr"), GlobalRef("__builtin__", "getattr")})
FX_REDUCE = GlobalRef("torch.fx.graph_module", "reduce_graph_module")
PARTIALS = frozenset({GlobalRef("functools", "partial"), GlobalRef("_functools", "partial")})
_IMPORTERS = frozenset(
    GlobalRef(m, "_ufunc_reconstruct") for m in ("numpy.core", "numpy._core", "numpy.core.multiarray")
)
_LATIN1_ENCODE = GlobalRef("_codecs", "encode")
_EXTENSIONS = frozenset({GlobalRef("copyreg", "add_extension"), GlobalRef("copy_reg", "add_extension")})
# Unpicklers called on bytes: what they unpickle is scanned (their import is reported as dangerous
# on its own; the nested scan says what the payload would do).
NESTED_LOADERS = frozenset(
    GlobalRef(m, n) for m, names in (
        ("pickle", "loads _loads load Unpickler"), ("_pickle", "loads load Unpickler"), ("cPickle", "loads"),
        ("dill", "loads"), ("cloudpickle", "loads"), ("torch", "load"), ("torch.serialization", "load _load"),
        ("torch.storage", "_load_from_bytes"), ("numpy", "load loads"), ("joblib", "load"),
        ("joblib.numpy_pickle", "load"),
    ) for n in names.split()
)
_BYTES_IO = frozenset({GlobalRef("io", "BytesIO"), GlobalRef("_io", "BytesIO")})
# Allowlisted callables that call (or instantiate) some of their arguments: those arguments must be
# imports (classified on their own) or static names, never values built at load time.
_CALLS_ARGUMENTS: dict[GlobalRef, tuple[int, ...]] = {
    GlobalRef("torch._tensor", "_rebuild_from_type_v2"): (0, 1),
    GlobalRef("torch._utils", "_rebuild_wrapper_subclass"): (0,),
    GlobalRef("collections", "defaultdict"): (0,),
    GlobalRef("copyreg", "_reconstructor"): (0, 1),
    GlobalRef("copy_reg", "_reconstructor"): (0, 1),
    GlobalRef("copyreg", "__newobj__"): (0,),
    GlobalRef("copyreg", "__newobj_ex__"): (0,),
    GlobalRef("numpy.core.multiarray", "_reconstruct"): (0,),
    GlobalRef("numpy._core.multiarray", "_reconstruct"): (0,),
    GlobalRef("numpy.core._internal", "_reconstruct"): (0,),  # pre-1.0 name (packs.NUMPY_LEGACY)
    GlobalRef("numpy.random._pickle", "__bit_generator_ctor"): (0,),
    GlobalRef("numpy.random._pickle", "__generator_ctor"): (1,),
    GlobalRef("numpy.random._pickle", "__randomstate_ctor"): (1,),
    GlobalRef("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"): (0,),
    GlobalRef("pandas.core.indexes.base", "_new_Index"): (0,),
    GlobalRef("sklearn.neighbors._kd_tree", "newObj"): (0,),
    GlobalRef("sklearn.neighbors._ball_tree", "newObj"): (0,),
    GlobalRef("sklearn.metrics._dist_metrics", "newObj"): (0,),
    GlobalRef("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"): (0,),
}
# Allowlisted callables that setattr() every key of one argument onto the object they build,
# exactly like BUILD does: that argument gets BUILD's checks.
_STATE_ARGUMENT: dict[GlobalRef, int] = {
    GlobalRef("torch._tensor", "_rebuild_from_type_v2"): 3,
    GlobalRef("torch._utils", "_rebuild_parameter_with_state"): 3,
}
# Library classes an allowlist pack admits to be rebuilt (copyreg/NEWOBJ, then BUILD) but not
# called with arguments, which runs __init__ (gensim's can read files or connect out): packs.py.
_REBUILD_ONLY = frozenset(GlobalRef(m, n) for m, n in packs.REBUILD_ONLY)
SPECIAL_CALLS = frozenset({_LATIN1_ENCODE, *GETATTR, *_IMPORTERS, *_CALLS_ARGUMENTS, *_STATE_ARGUMENT,
                           *NESTED_LOADERS, *_EXTENSIONS, *_REBUILD_ONLY})
"""imports :meth:`CallModel.call_value` looks at more closely; every other import is just called"""
_PARTIAL_DEPTH = 16
_ESCAPE_DEPTH = 4
_ESCAPE_ITEMS = 4096


def _is_latin1_encode(args: object) -> bool:
    if not (isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], str)):
        return False
    return args[1] in ("latin1", "latin-1") and all(ord(c) < 256 for c in args[0])


def state_keys(part: object) -> list[object]:
    """The attribute names a BUILD state part installs: a dict's keys, including a dict built
    at load time (``dict(...)``/``OrderedDict()`` then SETITEMs, or its dict/pair-list argument)."""
    if isinstance(part, DictVal):
        return [k for k, _ in part.pairs]
    if not isinstance(part, Obj):
        return []
    keys = [k for k, _ in part.items.pairs] if part.items is not None else []
    # dict(mapping) / dict(pairs) via REDUCE or NEWOBJ; NEWOBJ_EX's args are (args, kwargs)
    args = list(part.args[:2]) if isinstance(part.args, tuple) else []
    args += [a[0] for a in args if isinstance(a, tuple) and a]
    for arg in args:
        if isinstance(arg, DictVal):
            keys += [k for k, _ in arg.pairs]
        elif isinstance(arg, ListVal):
            keys += [p[0] for p in arg.items if isinstance(p, tuple) and len(p) == 2]
    return keys


def partial_target(value: object) -> tuple[object, object] | None:
    """(target, stored positional arguments) of a ``functools.partial`` built in the pickle, or None.

    The target and arguments are those of the constructor call, or of the state tuple
    ``(func, args, kwds, dict)`` a BUILD installed (which is how pickle restores partials).
    """
    if not (isinstance(value, Obj) and value.kind in ("call", "new") and value.func in PARTIALS):
        return None
    state = value.state
    if isinstance(state, tuple) and len(state) == 4:
        return state[0], state[1]
    args = value.args
    if value.kind == "new" and isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], tuple):
        args = args[0]  # NEWOBJ_EX: (args, kwargs)
    if isinstance(args, tuple) and args:
        return args[0], args[1:]
    return Obj("opaque"), Obj("opaque")


def _joined(stored: object, given: object) -> object:
    """A partial's stored arguments followed by the call's (static only when both are)."""
    if isinstance(stored, tuple) and isinstance(given, tuple):
        return stored + given
    if isinstance(stored, ListVal) and not stored.dropped and isinstance(given, tuple):
        return tuple(stored.items) + given
    return Obj("opaque")


def _bytes_argument(args: object) -> bytes | None:
    """The bytes an unpickler is handed: ``loads(b)``, ``load(io.BytesIO(b))``."""
    if not isinstance(args, tuple) or not args:
        return None
    first = args[0]
    if isinstance(first, Obj) and first.kind in ("call", "new") and first.func in _BYTES_IO:
        inner = first.args
        first = inner[0] if isinstance(inner, tuple) and inner else None
    return bytes(first) if isinstance(first, bytes | bytearray) else None


class CallModel(StackMachine):
    """The calls of one pickle: what REDUCE, NEWOBJ, OBJ, INST and BUILD would run."""

    def call(self, func: object, args: object, kind: str, opcode: str) -> None:
        """Model ``func(*args)`` and push what it returns."""
        col = self.col
        col.calls += 1
        if type(func) is GlobalRef and func not in SPECIAL_CALLS and not col.guarded_seen:
            self.stack.append(Obj(kind, func, args))  # most calls (tensor rebuilds, containers): nothing to model
            return
        self.stack.append(self.call_value(func, args, kind, opcode, 0))

    def call_value(self, func: object, args: object, kind: str, opcode: str, depth: int) -> object:
        col = self.col
        if col.guarded_seen and func not in PARTIALS:
            self._escapes(args, f"passed to {describe(func)}")
        if isinstance(func, GlobalRef):
            if func not in SPECIAL_CALLS:  # most calls (tensor rebuilds, containers): one lookup
                return Obj(kind, func, args)
            return self._special(func, args, kind, opcode)
        if isinstance(func, Guarded):
            return self._guarded(func, args, kind)
        if isinstance(func, Obj) and func.kind == "ext":
            return Obj(kind, func, args)
        target = partial_target(func)
        if target is not None and depth < _PARTIAL_DEPTH:
            # partial(f, *a)(*b) runs f(*a, *b): exactly that call, with that call's checks
            return self.call_value(target[0], _joined(target[1], args), kind, opcode, depth + 1)
        self.col.add("MG-S106", f"{opcode} calls {describe(func)}", self.op_at)
        return Obj(kind, func, args)

    def _special(self, func: GlobalRef, args: object, kind: str, opcode: str) -> object:
        if func == _LATIN1_ENCODE and _is_latin1_encode(args):
            assert isinstance(args, tuple)
            return args[0].encode("latin-1")  # how Python 3 pickles bytes for protocols < 3
        if func in _REBUILD_ONLY and kind == "call" and args != ():
            self.col.add("MG-S106", f"{opcode} calls {func} with arguments, which runs its __init__; its "
                         "allowlist pack admits it only to be rebuilt from saved state", self.op_at)
        if func in _IMPORTERS and isinstance(args, tuple) and len(args) >= 2 and isinstance(args[0], str) \
                and isinstance(args[1], str):
            return self.col.imported(GlobalRef(args[0], args[1]), self.op_at, f"resolved from {func}")
        result = Obj(kind, func, args)
        for index in _CALLS_ARGUMENTS.get(func, ()):
            if isinstance(args, tuple) and len(args) > index:
                arg = args[index]
                if isinstance(arg, Guarded):
                    self.col.dangerous(arg.ref, f"passed to {func}, which calls it unchecked", self.op_at)
                elif not isinstance(arg, GlobalRef | str | type(None)):
                    self.col.add("MG-S106", f"{func} will call {describe(arg)}", self.op_at)
        state_index = _STATE_ARGUMENT.get(func)
        if state_index is not None and isinstance(args, tuple) and len(args) > state_index:
            self.check_state(result, args[state_index], how=str(func))
        if func in NESTED_LOADERS:
            self._nested(func, args)
        elif func in _EXTENSIONS and isinstance(args, tuple) and len(args) == 3:
            module, name, code = args
            if isinstance(module, str) and isinstance(name, str) and isinstance(code, int):
                self.col.extensions[code] = GlobalRef(module, name)
        return result

    def _guarded(self, func: Guarded, args: object, kind: str) -> object:
        """A call of a guarded import: checked, or reported as the dangerous import it is."""
        ref = func.ref
        if ref in GETATTR and kind == "call":
            if isinstance(args, tuple) and len(args) in (2, 3) and isinstance(args[0], GlobalRef) \
                    and isinstance(args[1], str):
                base = args[0]
                return self.col.imported(GlobalRef(base.module, f"{base.name}.{args[1]}"), self.op_at,
                                         f"resolved from {ref}")
            self.col.dangerous(ref, f"called on {describe(args[0] if isinstance(args, tuple) and args else args)}",
                               self.op_at)
            return Obj(kind, func, args)
        if ref == FX_REDUCE and kind == "call":
            from modelguard.scan.pickle import fxgraph

            fxgraph.review_call(self, args)
            return Obj(kind, ref, args)
        self.col.dangerous(ref, f"called through {kind}", self.op_at)
        return Obj(kind, func, args)

    def _escapes(self, value: object, how: str, depth: int = 0) -> None:
        """Report a guarded import found in ``value`` (a call's arguments): whatever receives it
        may call it, and that call is not one the analyser checks."""
        if isinstance(value, Guarded):
            self.col.dangerous(value.ref, how, self.op_at)
            return
        if depth >= _ESCAPE_DEPTH:
            return
        items: list[object]
        if isinstance(value, tuple):
            items = list(value)
        elif isinstance(value, ListVal | SetVal):
            items = value.items
        elif isinstance(value, DictVal):
            items = [x for pair in value.pairs for x in pair]
        elif isinstance(value, Obj) and partial_target(value) is None:
            items = [value.args, value.state]
        else:
            return
        for item in items[:_ESCAPE_ITEMS]:
            self._escapes(item, how, depth + 1)

    def _nested(self, func: GlobalRef, args: object) -> None:
        """Scan the bytes an unpickler is called on as a file of their own, one level deeper."""
        data = _bytes_argument(args)
        ctx = self.col.ctx
        if data is None or ctx.nested_scanner is None:
            return
        source = BytesSource(data, f"{self.col.where(self.op_at)}!<bytes unpickled by {func}>")
        try:
            outcome = ctx.nested(source)
        except ScanLimitError as e:
            from modelguard.report.rules import finding

            self.col.findings.append(finding("MG-S003", str(e), location=e.location or source.name))
            return
        self.col.findings.extend(outcome.findings)

    def check_state(self, inst: object, state: object, how: str = "BUILD") -> None:
        if isinstance(inst, GlobalRef | Guarded):
            self.col.add("MG-S106", f"{how} sets attributes on the imported object {inst}", self.op_at)
        parts = list(state) if isinstance(state, tuple) else [state]
        for part in parts:
            for key in state_keys(part):
                if isinstance(key, str) and _DUNDER.match(key):
                    self.col.add("MG-S107", f"{how} sets {key} on {describe(inst)}", self.op_at)
                elif isinstance(key, Obj):
                    # an attribute name computed at load time could be any dunder
                    self.col.add("MG-S106", f"{how} sets an attribute whose name is {describe(key)}",
                                 self.op_at)
