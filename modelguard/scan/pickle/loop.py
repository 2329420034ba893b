"""The opcode loop of the pickle analyser: fetch, count, dispatch, with the frequent opcodes inline.

Owns :func:`run`, the walk of one pickle from its first opcode to STOP, which is where a scan
spends its time. The opcodes that dominate real pickles (strings, memo PUT/GET, marks, small
ints, floats, tuples, imports seen before) are decoded by the small functions of :data:`FAST`
straight from the reader's buffer, with exactly the checks of their handlers in
:mod:`modelguard.scan.pickle.stack`; whenever an argument is not wholly in the buffer, or a
check would fail, a fast function declines (returns -1) and the opcode goes to its handler,
which reads or reports it. Every opcode is counted against the op limit and every push against
the item limit.

:func:`run_plain` is the reference walk: the same loop with no fast path, every opcode through
its handler. The two must agree on every stream (tests/scan/test_pickle_loop.py runs both over
every corpus file and fuzz mutant); a scan uses the plain one when its context asks
(``ScanContext.plain_pickle_loop``).

Never executes anything.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING

from modelguard.scan.base import ScanLimitError
from modelguard.scan.pickle.reader import KEEP

if TYPE_CHECKING:
    from modelguard.scan.pickle.collector import Collector
    from modelguard.scan.pickle.stack import StackMachine
    from modelguard.scan.pickle.values import GlobalRef

_U4 = struct.Struct("<I").unpack_from
_I4 = struct.Struct("<i").unpack_from
_F8 = struct.Struct(">d").unpack_from
_STOP = ord(".")

DECODED_IMPORTS: dict[tuple[bytes, bytes], GlobalRef] = {}
"""GLOBAL/INST argument lines already decoded and checked by ``StackMachine.import_line`` (a
checkpoint imports the same few names once per tensor); filled and bounded there"""

Fast = Callable[[int, bytes, int, int, list[object], MutableMapping[int, object], list[int], "Collector"], int]
"""(opcode, buffer, index after the opcode, buffer end, stack, memo, marks, collector) -> the index
after the opcode's argument, or -1 when the handler must take the opcode"""


# ---- the fast paths: each does exactly what its handler does, or declines --------------------
def _unicode(code: int, buf: bytes, i: int, end: int, stack: list[object], memo: MutableMapping[int, object],
             marks: list[int], col: Collector) -> int:
    """BINUNICODE / SHORT_BINUNICODE whose text is wholly in the buffer (invalid UTF-8: the handler raises)."""
    start = i + 4 if code == 0x58 else i + 1
    if start > end:
        return -1
    n = _U4(buf, i)[0] if code == 0x58 else buf[i]
    stop = start + n
    if stop > end or n > KEEP:
        return -1
    try:
        stack.append(buf[start:stop].decode("utf-8", "surrogatepass"))
    except UnicodeDecodeError:
        return -1
    return stop


def _put(code: int, buf: bytes, i: int, end: int, stack: list[object], memo: MutableMapping[int, object],
         marks: list[int], col: Collector) -> int:
    """BINPUT / MEMOIZE of a value above the top mark."""
    if len(stack) <= (marks[-1] if marks else 0) or (code == 0x71 and i >= end):
        return -1
    if len(memo) >= col.max_items:
        return -1  # the handler stores it and reports the limit when the memo grows past it
    if code == 0x71:
        memo[buf[i]] = stack[-1]
        return i + 1
    memo[len(memo)] = stack[-1]
    return i


def _get(code: int, buf: bytes, i: int, end: int, stack: list[object], memo: MutableMapping[int, object],
         marks: list[int], col: Collector) -> int:
    """BINGET of an entry the memo holds (a miss is the handler's MemoMiss)."""
    if i >= end or buf[i] not in memo:
        return -1
    stack.append(memo[buf[i]])
    return i + 1


def _mark(code: int, buf: bytes, i: int, end: int, stack: list[object], memo: MutableMapping[int, object],
          marks: list[int], col: Collector) -> int:
    marks.append(len(stack))
    return i


def _tuple(code: int, buf: bytes, i: int, end: int, stack: list[object], memo: MutableMapping[int, object],
           marks: list[int], col: Collector) -> int:
    """TUPLE (needs a mark) and TUPLE1-3 (need their items above the top mark)."""
    if code == 0x74:
        if not marks:
            return -1
        k = marks[-1]
    else:
        k = len(stack) - (code - 0x84)
        if k < (marks[-1] if marks else 0):
            return -1
    if col.items + len(stack) - k > col.max_items:
        return -1  # the handler counts them and reports the limit
    if code == 0x74:
        marks.pop()
    items = tuple(stack[k:])
    del stack[k:]
    col.items += len(items)  # Collector.count, inline
    stack.append(items)
    return i


def _global(code: int, buf: bytes, i: int, end: int, stack: list[object], memo: MutableMapping[int, object],
            marks: list[int], col: Collector) -> int:
    """A GLOBAL whose two lines were decoded and checked by the handler before, of an import this
    stream already made (the first import of a name is classified and reported by the handler)."""
    nl = buf.find(b"\n", i)
    nl2 = buf.find(b"\n", nl + 1) if nl >= 0 else -1
    ref = DECODED_IMPORTS.get((buf[i:nl], buf[nl + 1:nl2])) if nl2 >= 0 else None
    pushed = col.globals.get((ref.module, ref.name)) if ref is not None else None
    if pushed is None:
        return -1
    stack.append(pushed)
    return nl2 + 1


def _constant(code: int, buf: bytes, i: int, end: int, stack: list[object], memo: MutableMapping[int, object],
              marks: list[int], col: Collector) -> int:
    """EMPTY_TUPLE, NONE, NEWTRUE, NEWFALSE."""
    stack.append(_CONSTANTS[code])
    return i


_CONSTANTS: dict[int, object] = {ord(")"): (), ord("N"): None, 0x88: True, 0x89: False}


def _number(code: int, buf: bytes, i: int, end: int, stack: list[object], memo: MutableMapping[int, object],
            marks: list[int], col: Collector) -> int:
    """BININT1, BININT, BINFLOAT whose argument is wholly in the buffer."""
    if code == 0x4B:
        if i >= end:
            return -1
        stack.append(buf[i])
        return i + 1
    if i + (4 if code == 0x4A else 8) > end:
        return -1
    if code == 0x4A:
        stack.append(_I4(buf, i)[0])
        return i + 4
    stack.append(_F8(buf, i)[0])
    return i + 8


FAST: list[Fast | None] = [None] * 256
"""opcode byte -> its fast path, or None (the handler always)"""
for _codes, _fast in (
    (b"X\x8c", _unicode), (b"q\x94", _put), (b"h", _get), (b"(", _mark), (b"t\x85\x86\x87", _tuple),
    (b"c", _global), (b")N\x88\x89", _constant), (b"KJG", _number),
):
    for _code in _codes:
        FAST[_code] = _fast


# ---- the loops -----------------------------------------------------------------------------
def run(m: StackMachine) -> object:
    """Walk ``m``'s reader to STOP with the fast paths; returns the pickle's value."""
    return _walk(m, FAST)


def run_plain(m: StackMachine) -> object:
    """Walk ``m``'s reader to STOP through the handlers alone (the reference for :func:`run`)."""
    return _walk(m, _NO_FAST)


_NO_FAST: list[Fast | None] = [None] * 256


def _walk(m: StackMachine, fast_paths: list[Fast | None]) -> object:
    """The loop. ``i`` (the buffer index), ``base`` and the op count live in locals and are
    written back to the reader and collector before every handler call, which may read, refill,
    or run a nested pickle that counts against the same limits."""
    r, col, dispatch = m.r, m.col, m.dispatch
    stack, memo, marks = m.stack, m.memo, m.marks  # handlers mutate these in place, never rebind them
    max_ops, max_items = col.ctx.limits.max_pickle_ops, col.ctx.limits.max_pickle_container_items
    ops = col.ops
    buf, base, i = r.buf, r.base, r.i
    end = len(buf)
    try:
        while True:
            if i < end:
                code = buf[i]
                at = i
                i += 1
            else:
                r.i = i
                m.op_at = base + i
                try:
                    fetched = r.next_byte()
                except BaseException:
                    i = r.i  # the reader's position for the error, kept by the finally below
                    raise
                if fetched is None:
                    raise m.bad("pickle truncated (no STOP)")
                code = fetched
                buf, base, i = r.buf, r.base, r.i
                end = len(buf)
                at = i - 1
            handler = dispatch[code]
            if handler is None:
                m.op_at = base + at
                r.i = i
                if code == _STOP:
                    if m.short_frame is not None:
                        raise m.short_frame
                    return m.pop()
                raise m.bad(f"invalid pickle opcode 0x{code:02x}")
            ops += 1
            if ops > max_ops:
                raise ScanLimitError(f"pickle has more than {max_ops} opcodes", col.where(base + at))
            fast = fast_paths[code]
            if fast is not None:
                j = fast(code, buf, i, end, stack, memo, marks, col)
                if j >= 0:
                    i = j
                    if len(stack) > max_items:
                        raise ScanLimitError("pickle stack grows beyond the item limit", col.where(base + at))
                    continue
            m.op_at = base + at
            r.i = i
            col.ops = ops
            try:
                handler(m)
            except BaseException:
                i = r.i
                raise
            ops = col.ops
            buf, base, i = r.buf, r.base, r.i
            end = len(buf)
            if len(stack) > max_items:
                raise ScanLimitError("pickle stack grows beyond the item limit", col.where(m.op_at))
    finally:
        r.i = i
        # A handler that raised may have counted nested ops into col.ops; never count fewer.
        if ops > col.ops:
            col.ops = ops
