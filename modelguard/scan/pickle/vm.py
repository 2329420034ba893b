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

from collections import ChainMap
from collections.abc import MutableMapping
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan.base import MalformedError, ScanContext, ScanLimitError
from modelguard.scan.pickle import joblib_arrays
from modelguard.scan.pickle.calls import CallModel
from modelguard.scan.pickle.collector import Collector
from modelguard.scan.pickle.reader import Reader
from modelguard.scan.pickle.stack import MemoMiss
from modelguard.scan.pickle.values import GlobalRef, Obj, describe, static_or_none

__all__ = ["GlobalRef", "PickleAnalysis", "analyze_stream"]

_SHADOW_BYTES = 1 << 20
_SHADOW_RULES = frozenset({"MG-S101", "MG-S107"})
_SHADOW_OPS = 100_000


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
    ops: int = 0
    """opcodes walked (counted against the op limit), nested and shadow walks included"""


class Machine(CallModel):
    """One pickle: the opcodes that import, call, install state, and joblib's array hook."""

    # ---- imports, calls, state ---------------------------------------------------------------
    def op_global(self) -> None:
        ref = self.import_line()
        self.stack.append(self.col.imported(ref, self.op_at, "GLOBAL"))

    def op_stack_global(self) -> None:
        name, module = self.pop(), self.pop()
        if isinstance(module, str) and isinstance(name, str):
            self.stack.append(self.col.imported(GlobalRef(module, name), self.op_at, "STACK_GLOBAL"))
            return
        self.col.add("MG-S103", f"STACK_GLOBAL imports module {describe(module)}, name {describe(name)}: "
                     "not known until load time", self.op_at)
        self.stack.append(Obj("call"))

    def _ext(self, code: int) -> None:
        registered = self.col.extensions.get(code)
        if registered is not None:
            # copyreg.add_extension ran earlier in this stream: the code imports what it registered
            how = f"EXT {code}, registered by copyreg.add_extension in this pickle"
            self.stack.append(self.col.imported(registered, self.op_at, how))
            return
        self.col.add("MG-S104", f"EXT opcode imports extension code {code}, whatever the loader registered",
                     self.op_at, key=str(code))
        self.stack.append(Obj("ext", args=code))

    def op_ext1(self) -> None:
        self._ext(self.u("<B"))

    def op_ext2(self) -> None:
        self._ext(self.u("<H"))

    def op_ext4(self) -> None:
        self._ext(self.u("<i"))

    def op_reduce(self) -> None:
        stack = self.stack
        if len(stack) - (self.marks[-1] if self.marks else 0) >= 2:  # both operands above the mark
            args, func = stack.pop(), stack.pop()
        else:
            args, func = self.pop(), self.pop()  # raises the underflow error
        self.call(func, args, "call", "REDUCE")

    def op_newobj(self) -> None:
        args = self.pop()
        cls = self.pop()
        self.call(cls, args, "new", "NEWOBJ")

    def op_newobj_ex(self) -> None:
        kwargs, args = self.pop(), self.pop()
        cls = self.pop()
        self.call(cls, (args, kwargs), "new", "NEWOBJ_EX")

    def op_obj(self) -> None:
        items = self.pop_mark()
        if not items:
            raise self.bad("OBJ without a class")
        self.call(items[0], tuple(items[1:]), "call", "OBJ")

    def op_inst(self) -> None:
        pushed = self.col.imported(self.import_line(), self.op_at, "INST")
        args = tuple(self.pop_mark())
        self.call(pushed, args, "call", "INST")

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
        self.check_state(inst, state)
        if isinstance(inst, Obj):
            inst.state, inst.built = state, True
        wrapper = joblib_arrays.wrapper_class(inst)
        if wrapper is not None:
            self._joblib_payload(wrapper, state)

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
                                 extra_safe_globals=ctx.extra_safe_globals, plain_pickle_loop=ctx.plain_pickle_loop)
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
    analysis.ops = col.ops
    return analysis
