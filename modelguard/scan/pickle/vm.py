"""The pickle analyser: walks the opcodes of protocols 0-5 and models stack, marks and memo by value.

Owns the static interpretation of a pickle stream: which imports the loader would perform,
which values get called, which state gets installed, and where each pickle ends. Follows the C
unpickler's rules (marks are a separate stack with a fence, BUILD/APPEND/SETITEM semantics) so
that what is analysed is what ``pickle.load`` runs. joblib's inline array payloads are skipped
exactly as ``joblib.load`` skips them.

Must not execute, import or unpickle anything, and must not read tensor or array data: large
payloads are skipped by seeking.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import MutableMapping
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan.base import MalformedError, ScanContext, ScanLimitError
from modelguard.scan.pickle import joblib_arrays, packs
from modelguard.scan.pickle.collector import Collector
from modelguard.scan.pickle.reader import Reader
from modelguard.scan.pickle.stack import MemoMiss, StackMachine
from modelguard.scan.pickle.values import DictVal, GlobalRef, ListVal, Obj, describe, static_or_none

__all__ = ["GlobalRef", "PickleAnalysis", "analyze_stream"]

_DUNDER = re.compile(r"^__\w+__$")
_GETATTR = frozenset({GlobalRef("builtins", "getattr"), GlobalRef("__builtin__", "getattr")})
_IMPORTERS = frozenset(
    GlobalRef(m, "_ufunc_reconstruct") for m in ("numpy.core", "numpy._core", "numpy.core.multiarray")
)
_LATIN1_ENCODE = GlobalRef("_codecs", "encode")
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
_SPECIAL_CALLS = frozenset({_LATIN1_ENCODE, *_GETATTR, *_IMPORTERS, *_CALLS_ARGUMENTS, *_STATE_ARGUMENT,
                            *_REBUILD_ONLY})
"""callables :meth:`Machine._call` looks at more closely; every other import is just called"""
_SHADOW_BYTES = 1 << 20
_SHADOW_RULES = frozenset({"MG-S101", "MG-S107"})
_SHADOW_OPS = 100_000


def _is_latin1_encode(args: object) -> bool:
    if not (isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], str)):
        return False
    return args[1] in ("latin1", "latin-1") and all(ord(c) < 256 for c in args[0])


def _state_keys(part: object) -> list[object]:
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


@dataclass
class PickleAnalysis:
    """What the analyser learnt from one stream of pickles."""

    findings: list[Finding]
    end: int
    """absolute offset just after the last STOP consumed"""
    globals: list[tuple[str, str]]
    """every (module, name) imported, in order of first import"""
    value: object | None
    """the last pickle's value when it is plain data (str/bytes/int/float/bool/None/list/tuple/dict)"""
    persistent_ids: list[object]
    """static values of PERSID/BINPERSID arguments (imports as GlobalRef); None where not static"""
    is_joblib: bool
    complete: bool = True
    """False when parsing stopped on a malformed stream or a limit (see the MG-S001/S003 finding)"""
    stops: list[int] = field(default_factory=list)
    """absolute offset just after each STOP"""
    calls: int = 0
    """calls (REDUCE, NEWOBJ, OBJ, INST, BUILD) walked, including any before a parse error"""


class Machine(StackMachine):
    """One pickle: the opcodes that import, call, install state, and joblib's array hook."""

    # ---- imports, calls, state ---------------------------------------------------------------
    def op_global(self) -> None:
        ref = self.import_line()
        self.col.imported(ref, self.op_at, "GLOBAL")
        self.stack.append(ref)

    def op_stack_global(self) -> None:
        name, module = self.pop(), self.pop()
        if isinstance(module, str) and isinstance(name, str):
            ref = GlobalRef(module, name)
            self.col.imported(ref, self.op_at, "STACK_GLOBAL")
            self.stack.append(ref)
            return
        self.col.add("MG-S103", f"STACK_GLOBAL imports module {describe(module)}, name {describe(name)}: "
                     "not known until load time", self.op_at)
        self.stack.append(Obj("call"))

    def _ext(self, code: int) -> None:
        self.col.add("MG-S104", f"EXT opcode imports extension code {code}, whatever the loader registered",
                     self.op_at, key=str(code))
        self.stack.append(Obj("ext", args=code))

    def op_ext1(self) -> None:
        self._ext(self.u("<B"))

    def op_ext2(self) -> None:
        self._ext(self.u("<H"))

    def op_ext4(self) -> None:
        self._ext(self.u("<i"))

    def _call(self, func: object, args: object, kind: str, opcode: str) -> None:
        self.col.calls += 1
        result = Obj(kind, func, args)
        if isinstance(func, GlobalRef):
            if func not in _SPECIAL_CALLS:  # most calls (tensor rebuilds, containers): one lookup
                self.stack.append(result)
                return
            if func == _LATIN1_ENCODE and _is_latin1_encode(args):
                assert isinstance(args, tuple)
                self.stack.append(args[0].encode("latin-1"))  # how Python 3 pickles bytes for protocols < 3
                return
            if func in _REBUILD_ONLY and kind == "call" and args != ():
                self.col.add("MG-S106", f"{opcode} calls {func} with arguments, which runs its __init__; its "
                             "allowlist pack admits it only to be rebuilt from saved state", self.op_at)
            result_ref = self._resolved_import(func, args)
            if result_ref is not None:
                self.col.imported(result_ref, self.op_at, f"resolved from {func}")
                self.stack.append(result_ref)
                return
            for index in _CALLS_ARGUMENTS.get(func, ()):
                if isinstance(args, tuple) and len(args) > index:
                    if not isinstance(args[index], GlobalRef | str | type(None)):
                        self.col.add("MG-S106", f"{func} will call {describe(args[index])}", self.op_at)
            state_index = _STATE_ARGUMENT.get(func)
            if state_index is not None and isinstance(args, tuple) and len(args) > state_index:
                self._check_state(result, args[state_index], how=str(func))
        elif not (isinstance(func, Obj) and func.kind == "ext"):
            self.col.add("MG-S106", f"{opcode} calls {describe(func)}", self.op_at)
        self.stack.append(result)

    @staticmethod
    def _resolved_import(func: GlobalRef, args: object) -> GlobalRef | None:
        """The import a getattr/importer call amounts to, when its arguments are static."""
        if not isinstance(args, tuple) or len(args) < 2 or not isinstance(args[1], str):
            return None
        base = args[0]
        if func in _GETATTR and isinstance(base, GlobalRef):
            return GlobalRef(base.module, f"{base.name}.{args[1]}")
        if func in _IMPORTERS and isinstance(base, str):
            return GlobalRef(base, args[1])
        return None

    def op_reduce(self) -> None:
        stack = self.stack
        if len(stack) - (self.marks[-1] if self.marks else 0) >= 2:  # both operands above the mark
            args, func = stack.pop(), stack.pop()
        else:
            args, func = self.pop(), self.pop()  # raises the underflow error
        self._call(func, args, "call", "REDUCE")

    def op_newobj(self) -> None:
        args = self.pop()
        cls = self.pop()
        self._call(cls, args, "new", "NEWOBJ")

    def op_newobj_ex(self) -> None:
        kwargs, args = self.pop(), self.pop()
        cls = self.pop()
        self._call(cls, (args, kwargs), "new", "NEWOBJ_EX")

    def op_obj(self) -> None:
        items = self.pop_mark()
        if not items:
            raise self.bad("OBJ without a class")
        self._call(items[0], tuple(items[1:]), "call", "OBJ")

    def op_inst(self) -> None:
        ref = self.import_line()
        self.col.imported(ref, self.op_at, "INST")
        args = tuple(self.pop_mark())
        self._call(ref, args, "call", "INST")

    def op_persid(self) -> None:
        data = self.line()
        if data is None:
            raise self.bad("persistent id longer than any real one")
        pid = data.decode("latin-1")
        self.col.pids.append(pid)
        self.stack.append(Obj("persistent", args=pid))

    def op_binpersid(self) -> None:
        pid = self.pop()
        self.col.pids.append(static_or_none(pid, globals_ok=True))
        self.stack.append(Obj("persistent", args=pid))

    def op_build(self) -> None:
        state = self.pop()
        inst = self.top()
        self.col.calls += 1  # BUILD calls the instance's __setstate__ when it has one
        self._check_state(inst, state)
        if isinstance(inst, Obj):
            inst.state, inst.built = state, True
        wrapper = joblib_arrays.wrapper_class(inst)
        if wrapper is not None:
            self._joblib_payload(wrapper, state)

    def _check_state(self, inst: object, state: object, how: str = "BUILD") -> None:
        if isinstance(inst, GlobalRef):
            self.col.add("MG-S106", f"{how} sets attributes on the imported object {inst}", self.op_at)
        parts = list(state) if isinstance(state, tuple) else [state]
        for part in parts:
            for key in _state_keys(part):
                if isinstance(key, str) and _DUNDER.match(key):
                    self.col.add("MG-S107", f"{how} sets {key} on {describe(inst)}", self.op_at)
                elif isinstance(key, Obj):
                    # an attribute name computed at load time could be any dunder
                    self.col.add("MG-S106", f"{how} sets an attribute whose name is {describe(key)}",
                                 self.op_at)

    def _joblib_payload(self, wrapper: GlobalRef, state: object) -> None:
        if wrapper in joblib_arrays.SIDE_FILE_WRAPPERS:
            escaped = joblib_arrays.side_file_escapes(state)
            if escaped is not None:
                self.col.add("MG-S108", f"joblib array wrapper loads the side file {escaped!r}", self.op_at)
            return
        if not self.joblib:
            return
        layout = joblib_arrays.inline_array(state)
        if layout.nbytes is None:
            # An object array: joblib unpickles a nested pickle right here.
            Machine(self.col, self.r, joblib=False).run()
        else:
            region = layout.nbytes + (1 + self.r.peek_byte_or_zero() if layout.padded else 0)
            self._shadow_plain_load(region)
            if layout.padded:
                self.r.skip(self.r.read(1)[0])
            self.r.skip(layout.nbytes)
        self.stack[-1] = Obj("array")

    def _shadow_plain_load(self, region: int) -> None:
        """Report what ``pickle.load`` (not ``joblib.load``) would run from the ``region`` bytes joblib skips.

        The same file loaded with plain pickle parses the array payload as opcodes, so a payload
        hidden there must not pass. Only the skipped bytes are walked (what follows them is
        analysed anyway), and only imports of known-dangerous names or special-method installs
        count: random array data parses a few opcodes often enough, but never spells ``system``.
        """
        ctx = self.col.ctx
        shadow_ctx = ScanContext(limits=replace(ctx.limits, max_pickle_ops=_SHADOW_OPS),
                                 extra_safe_globals=ctx.extra_safe_globals)
        shadow_col = Collector(shadow_ctx, self.col.location)
        reader = Reader(self.r.f, self.r.pos, _SHADOW_BYTES, self.col.location, end=self.r.pos + region)
        shadow = Machine(shadow_col, reader, joblib=False)
        shadow.stack, shadow.marks = list(self.stack), list(self.marks)
        shadow.memo = ChainMap({}, self.memo)
        try:
            shadow.run()
        except (MalformedError, ScanLimitError):
            pass
        self.col.ops += shadow_col.ops
        for item in shadow_col.findings:
            if item.rule in _SHADOW_RULES:
                self.col.findings.append(
                    replace(item, message=f"{item.message} (when loaded with pickle.load instead of joblib.load)"))


def analyze_stream(
    ctx: ScanContext,
    f: BinaryIO,
    *,
    location: str,
    offset: int = 0,
    single: bool = False,
    limit: int | None = None,
) -> PickleAnalysis:
    """Analyse the pickle(s) in ``f`` from absolute ``offset``.

    ``single``: exactly one pickle (torch legacy files put raw storages after their pickles).
    Otherwise further pickles after STOP are analysed while the data parses, and data that does
    not is reported (MG-S105). ``limit`` caps the bytes read into memory (default
    ``ctx.limits.max_pickle_bytes``; skipped payloads do not count). A malformed stream or a
    limit hit becomes an MG-S001/MG-S003 finding next to everything found before it, and
    ``complete`` is False.
    """
    col = Collector(ctx, location)
    reader = Reader(f, offset, limit if limit is not None else ctx.limits.max_pickle_bytes, location)
    analysis = PickleAnalysis([], offset, [], None, [], False)
    previous_memo: MutableMapping[int, object] | None = None
    try:
        while True:
            start = reader.pos
            try:
                machine = Machine(col, reader, joblib=True)
                try:
                    result = machine.run()
                except MemoMiss:
                    if previous_memo is None:
                        raise
                    # A loader that calls load() twice on one Unpickler keeps the memo, so a later
                    # pickle may read what an earlier one stored: analyse it that way too.
                    reader.seek(start)
                    machine = Machine(col, reader, joblib=True)
                    machine.memo = ChainMap({}, previous_memo)
                    result = machine.run()
            except MalformedError as e:
                if not analysis.stops:
                    raise
                col.add("MG-S105", f"{reader.size - start} bytes after the pickle's STOP are not a complete pickle "
                        f"({e})", start)
                break
            previous_memo = machine.memo
            analysis.end = reader.pos
            analysis.stops.append(reader.pos)
            analysis.value = static_or_none(result, globals_ok=False)
            if single or reader.at_end():
                break
    except MalformedError as e:
        analysis.complete = False
        col.findings.append(finding("MG-S001", str(e), location=e.location or col.where(reader.pos)))
    except ScanLimitError as e:
        analysis.complete = False
        col.findings.append(finding("MG-S003", str(e), location=e.location or col.where(reader.pos)))
    analysis.findings = col.findings
    analysis.globals = list(col.globals)
    analysis.persistent_ids = col.pids
    analysis.is_joblib = col.is_joblib
    analysis.calls = col.calls
    return analysis
