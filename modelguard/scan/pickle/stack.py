"""The value-building half of the pickle analyser: stack, marks, memo, literals and containers.

Owns :class:`StackMachine`, which implements the opcodes that only build values,
following the C unpickler (marks are a separate stack with a fence; APPEND/SETITEM call methods
of whatever they target). Opcodes that import, call or install state live in
:mod:`modelguard.scan.pickle.vm`. Never executes anything.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable, MutableMapping
from typing import Any

from modelguard.scan.base import MalformedError, ScanLimitError
from modelguard.scan.pickle import loop as pickle_loop
from modelguard.scan.pickle.collector import Collector
from modelguard.scan.pickle.reader import HIGHEST_PROTOCOL, KEEP, OPS, Reader
from modelguard.scan.pickle.values import DictVal, GlobalRef, ListVal, Obj, SetVal

_STRUCTS = {fmt: struct.Struct(fmt) for fmt in ("<B", "<H", "<i", "<I", "<Q")}
_U1, _U2, _I4, _U4, _U8 = (_STRUCTS[fmt] for fmt in ("<B", "<H", "<i", "<I", "<Q"))
_F8 = struct.Struct(">d")


def _parse_int(text: str) -> int | bool:
    if text in ("00", "01"):  # protocol 0 booleans
        return text == "01"
    try:
        return int(text, 0)
    except ValueError:
        return int(text, 10)  # the C unpickler's strtol accepts leading zeros


_IMPORTS = pickle_loop.DECODED_IMPORTS
_IMPORTS_KEPT = 4096

_TABLES: dict[type, list[Callable[[Any], None] | None]] = {}


def _dispatch_table(cls: type) -> list[Callable[[Any], None] | None]:
    """opcode byte -> handler function of ``cls`` (None: STOP or not an opcode), a list indexed
    by the byte, built once per machine class (streams of many tiny pickles create many machines)."""
    table = _TABLES.get(cls)
    if table is None:
        table = [None] * 256
        for code, name in OPS.items():
            if name != "STOP":
                table[code] = getattr(cls, "op_" + name.lower())
        _TABLES[cls] = table
    return table


class MemoMiss(MalformedError):
    """A GET of a memo entry this pickle never wrote."""


class StackMachine:
    """One pickle, from its first opcode to STOP: the value-building opcodes."""

    def __init__(self, col: Collector, reader: Reader, *, joblib: bool) -> None:
        self.col = col
        self.r = reader
        self.joblib = joblib
        self.stack: list[object] = []
        self.marks: list[int] = []
        self.memo: MutableMapping[int, object] = {}
        self.short_frame: MalformedError | None = None
        """a FRAME longer than the rest of the stream, raised when the pickle ends"""
        self.op_at = reader.pos
        self.dispatch = _dispatch_table(type(self))

    # ---- stack primitives (C unpickler semantics: pops never cross the top mark) ----------
    def bad(self, message: str) -> MalformedError:
        return MalformedError(f"{message} at offset {self.op_at}", self.col.where(self.op_at))

    def pop(self) -> object:
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            raise self.bad("pickle stack underflow")
        return self.stack.pop()

    def top(self) -> object:
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            raise self.bad("pickle stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[object]:
        if not self.marks:
            raise self.bad("pickle has no MARK for this opcode")
        k = self.marks.pop()
        items = self.stack[k:]
        del self.stack[k:]
        return items

    def run(self) -> object:
        """Walk to STOP; returns the pickle's value (the loop is :func:`pickle_loop.run`, or the
        reference :func:`pickle_loop.run_plain` when the scan asks for it)."""
        if self.col.ctx.plain_pickle_loop:
            return pickle_loop.run_plain(self)
        return pickle_loop.run(self)

    # ---- argument decoding -----------------------------------------------------------------
    def line(self) -> bytes | None:
        return self.r.readline()

    def u(self, fmt: str) -> int:
        value: int = self.r.unpack(_STRUCTS[fmt])
        return value

    def text(self, data: bytes | None) -> object:
        if data is None:
            return Obj("opaque")
        try:
            return data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise self.bad("invalid UTF-8 in a unicode argument") from None

    def number(self, parse: Callable[[str], object]) -> object:
        data = self.line()
        if data is None:
            return Obj("opaque")
        try:
            return parse(data.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            raise self.bad(f"invalid number {data[:40]!r}") from None

    def import_line(self) -> GlobalRef:
        module, name = self.line(), self.line()
        if module is None or name is None:
            raise self.bad("import name longer than any real module")
        ref = _IMPORTS.get((module, name))
        if ref is not None:
            return ref
        try:
            ref = GlobalRef(module.decode("utf-8"), name.decode("utf-8"))
        except UnicodeDecodeError:
            raise self.bad("import name is not UTF-8") from None
        if len(_IMPORTS) >= _IMPORTS_KEPT:
            _IMPORTS.clear()
        _IMPORTS[module, name] = ref
        return ref

    def memo_index(self, data: bytes | None) -> int:
        # The C unpickler parses PUT/GET lines with PyLong_FromString(s, NULL, 10): surrounding
        # whitespace, a sign and digit-separating underscores ("+1", " 1_0") are all accepted.
        # Refusing them here would end the analysis where pickle.load carries on.
        if data is None:
            raise self.bad("invalid memo index")
        try:
            return int(data.decode("ascii"), 10)
        except (UnicodeDecodeError, ValueError):
            raise self.bad("invalid memo index") from None

    # ---- data opcodes ------------------------------------------------------------------------
    def op_mark(self) -> None:
        self.marks.append(len(self.stack))

    def op_pop(self) -> None:
        if self.marks and self.marks[-1] == len(self.stack):
            self.marks.pop()
        else:
            self.pop()

    def op_pop_mark(self) -> None:
        self.pop_mark()

    def op_dup(self) -> None:
        self.stack.append(self.top())

    def op_none(self) -> None:
        self.stack.append(None)

    def op_newtrue(self) -> None:
        self.stack.append(True)

    def op_newfalse(self) -> None:
        self.stack.append(False)

    def op_int(self) -> None:
        self.stack.append(self.number(_parse_int))

    def op_long(self) -> None:
        self.stack.append(self.number(lambda s: int(s[:-1] if s.endswith("L") else s, 0)))

    def op_float(self) -> None:
        self.stack.append(self.number(float))

    def op_binint(self) -> None:
        self.stack.append(self.r.unpack(_I4))

    def op_binint1(self) -> None:
        self.stack.append(self.r.unpack(_U1))

    def op_binint2(self) -> None:
        self.stack.append(self.r.unpack(_U2))

    def op_binfloat(self) -> None:
        self.stack.append(self.r.unpack(_F8))

    def _long(self, n: int) -> None:
        if n < 0:
            raise self.bad("negative LONG4 length")
        data = self.r.payload(n)
        self.stack.append(Obj("opaque") if data is None else int.from_bytes(data, "little", signed=True))

    def op_long1(self) -> None:
        self._long(self.r.unpack(_U1))

    def op_long4(self) -> None:
        self._long(self.r.unpack(_I4))

    def op_string(self) -> None:
        data = self.line()
        if data is None:
            self.stack.append(Obj("opaque"))
            return
        data = data.rstrip(b"\r")
        if len(data) < 2 or data[:1] not in (b"'", b'"') or data[-1:] != data[:1]:
            raise self.bad("STRING argument is not quoted")
        try:
            raw = codecs.escape_decode(data[1:-1])[0]
        except ValueError:
            raise self.bad("invalid escape in STRING argument") from None
        self.stack.append(raw.decode("latin-1"))

    def _binstring(self, n: int) -> None:
        if n < 0:
            raise self.bad("negative BINSTRING length")
        data = self.r.payload(n)
        # Python 3 decodes py2 strings to str by default (encoding="ASCII"); latin-1 never fails.
        self.stack.append(Obj("opaque") if data is None else data.decode("latin-1"))

    def op_binstring(self) -> None:
        self._binstring(self.r.unpack(_I4))

    def op_short_binstring(self) -> None:
        self._binstring(self.r.unpack(_U1))

    def op_unicode(self) -> None:
        data = self.line()
        if data is None:
            self.stack.append(Obj("opaque"))
            return
        try:
            self.stack.append(data.decode("raw-unicode-escape"))
        except UnicodeDecodeError:  # pickle.load fails here too (a truncated \uXXXX escape)
            raise self.bad("invalid escape in UNICODE argument") from None

    def _unicode(self, size: struct.Struct) -> None:
        r = self.r
        i = r.i
        buf = r.buf
        start = i + size.size
        if start <= len(buf):  # fast path: the length and the text are both in the buffer
            n = size.unpack_from(buf, i)[0]
            end = start + n
            if end <= len(buf) and n <= KEEP:
                r.i = end
                try:
                    self.stack.append(buf[start:end].decode("utf-8", "surrogatepass"))
                except UnicodeDecodeError:
                    raise self.bad("invalid UTF-8 in a unicode argument") from None
                return
        self.stack.append(self.text(r.payload(r.unpack(size))))

    def op_binunicode(self) -> None:
        self._unicode(_U4)

    def op_short_binunicode(self) -> None:
        self._unicode(_U1)

    def op_binunicode8(self) -> None:
        self._unicode(_U8)

    def _bytes(self, n: int) -> None:
        data = self.r.payload(n)
        self.stack.append(Obj("opaque") if data is None else data)

    def op_binbytes(self) -> None:
        self._bytes(self.r.unpack(_U4))

    def op_short_binbytes(self) -> None:
        self._bytes(self.r.unpack(_U1))

    def op_binbytes8(self) -> None:
        self._bytes(self.r.unpack(_U8))

    def op_bytearray8(self) -> None:
        self._bytes(self.r.unpack(_U8))

    def op_next_buffer(self) -> None:
        self.stack.append(Obj("buffer"))

    def op_readonly_buffer(self) -> None:
        self.top()

    def op_proto(self) -> None:
        proto = self.r.unpack(_U1)
        if proto > HIGHEST_PROTOCOL:
            raise self.bad(f"unsupported pickle protocol {proto}")

    def op_frame(self) -> None:
        n = self.r.unpack(_U8)
        if n > self.r.remaining and self.short_frame is None:
            # The C unpickler refuses the frame before running it, but pickle's pure-Python
            # unpickler runs the opcodes that are there: analyse them, then report the damage.
            self.short_frame = self.bad(f"pickle truncated: a {n}-byte frame runs past the end")

    # ---- containers --------------------------------------------------------------------------
    def _tuple(self, items: list[object]) -> None:
        self.col.count(len(items), self.op_at)
        self.stack.append(tuple(items))

    def op_empty_tuple(self) -> None:
        self.stack.append(())

    def op_tuple(self) -> None:
        self._tuple(self.pop_mark())

    def op_tuple1(self) -> None:
        self._tuple([self.pop()])

    def op_tuple2(self) -> None:
        b, a = self.pop(), self.pop()
        self._tuple([a, b])

    def op_tuple3(self) -> None:
        c, b, a = self.pop(), self.pop(), self.pop()
        self._tuple([a, b, c])

    def op_empty_list(self) -> None:
        self.stack.append(ListVal())

    def op_list(self) -> None:
        items = self.pop_mark()
        self.stack.append(ListVal())
        self._extend(items, "LIST")

    def op_empty_dict(self) -> None:
        self.stack.append(DictVal())

    def op_dict(self) -> None:
        items = self.pop_mark()
        self.stack.append(DictVal())
        self._set_items(items)

    def op_empty_set(self) -> None:
        self.stack.append(SetVal())

    def op_frozenset(self) -> None:
        items = self.pop_mark()
        self.stack.append(SetVal(frozen=True))
        self._extend(items, "FROZENSET")

    def op_append(self) -> None:
        value = self.pop()
        self._extend([value], "APPEND")

    def op_appends(self) -> None:
        self._extend(self.pop_mark(), "APPENDS")

    def op_additems(self) -> None:
        self._extend(self.pop_mark(), "ADDITEMS")

    def op_setitem(self) -> None:
        value, key = self.pop(), self.pop()
        self._set_items([key, value])

    def op_setitems(self) -> None:
        self._set_items(self.pop_mark())

    def _mutating(self, target: object, opcode: str) -> bool:
        """Whether ``target`` is a container modelled by value; reports mutation of imports."""
        if isinstance(target, ListVal | DictVal | SetVal):
            return True
        if isinstance(target, GlobalRef):
            self.col.add("MG-S106", f"{opcode} modifies the imported object {target} (its methods get called)",
                         self.op_at)
        elif not isinstance(target, Obj):
            raise self.bad(f"{opcode} on a {type(target).__name__}")
        return False

    def _extend(self, items: list[object], opcode: str) -> None:
        target = self.top()
        self.col.count(len(items), self.op_at)
        if self._mutating(target, opcode) and isinstance(target, ListVal | SetVal):
            target.add_all(items)

    def _set_items(self, items: list[object]) -> None:
        if len(items) % 2:
            raise self.bad("odd number of items for SETITEMS/DICT")
        target = self.top()
        self.col.count(len(items) // 2, self.op_at)
        if self._mutating(target, "SETITEM") and isinstance(target, DictVal):
            target.add_flat(items)
        elif isinstance(target, Obj):
            # Kept so a dict built by a call (OrderedDict() + SETITEMs) is still checked when
            # it becomes BUILD state.
            if target.items is None:
                target.items = DictVal()
            target.items.add_flat(items)

    # ---- memo --------------------------------------------------------------------------------
    def _get(self, idx: int) -> None:
        if idx not in self.memo:
            raise MemoMiss(f"memo entry {idx} read before it is written at offset {self.op_at}",
                           self.col.where(self.op_at))
        self.stack.append(self.memo[idx])

    def _put(self, idx: int) -> None:
        if idx < 0:
            raise self.bad("negative memo index")
        stack, memo = self.stack, self.memo
        if len(stack) <= (self.marks[-1] if self.marks else 0):
            raise self.bad("pickle stack underflow")
        memo[idx] = stack[-1]
        if len(memo) > self.col.ctx.limits.max_pickle_container_items:
            raise ScanLimitError("pickle memo grows beyond the item limit", self.col.where(self.op_at))

    def op_get(self) -> None:
        self._get(self.memo_index(self.line()))

    def op_binget(self) -> None:
        self._get(self.r.unpack(_U1))

    def op_long_binget(self) -> None:
        self._get(self.r.unpack(_U4))

    def op_put(self) -> None:
        self._put(self.memo_index(self.line()))

    def op_binput(self) -> None:
        self._put(self.r.unpack(_U1))

    def op_long_binput(self) -> None:
        self._put(self.r.unpack(_I4))

    def op_memoize(self) -> None:
        self._put(len(self.memo))
