"""The opcode loop of the pickle analyser: fetch, count, dispatch, with the frequent opcodes inline.

Owns :func:`run`, the walk of one pickle from its first opcode to STOP, which is where a scan
spends its time. The opcodes that dominate real pickles (strings, memo PUT/GET, marks, small
ints, floats) are decoded here from the reader's buffer with exactly the checks of their
handlers in :mod:`modelguard.scan.pickle.stack`; whenever an argument is not wholly in the
buffer, or a check would fail, the opcode goes to its handler instead, which reads or reports
it. Every opcode is counted against the op limit and every push against the item limit.
Never executes anything.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from modelguard.scan.base import ScanLimitError
from modelguard.scan.pickle.reader import KEEP

if TYPE_CHECKING:
    from modelguard.scan.pickle.stack import StackMachine
    from modelguard.scan.pickle.values import GlobalRef

_U4 = struct.Struct("<I").unpack_from
_I4 = struct.Struct("<i").unpack_from
_F8 = struct.Struct(">d").unpack_from
(_BINUNICODE, _BINPUT, _BINFLOAT, _MARK, _BININT1, _SHORT_BINUNICODE, _BINGET, _MEMOIZE, _STOP) = (
    ord("X"), ord("q"), ord("G"), ord("("), ord("K"), 0x8C, ord("h"), 0x94, ord(".")
)
_TUPLE, _BININT, _GLOBAL = ord("t"), ord("J"), ord("c")
_TUPLE1, _TUPLE3 = 0x85, 0x87  # TUPLE1, TUPLE2, TUPLE3 are consecutive
_NUMBER_SIZE = {_BINFLOAT: 8, _BININT1: 1, _BININT: 4}
_CONSTANTS = {ord(")"): (), ord("N"): None, 0x88: True, 0x89: False}
"""EMPTY_TUPLE, NONE, NEWTRUE, NEWFALSE: the value each pushes"""

DECODED_IMPORTS: dict[tuple[bytes, bytes], GlobalRef] = {}
"""GLOBAL/INST argument lines already decoded and checked by ``StackMachine.import_line`` (a
checkpoint imports the same few names once per tensor); filled and bounded there"""


def run(m: StackMachine) -> object:
    """Walk ``m``'s reader to STOP; returns the pickle's value.

    ``i`` (the buffer index), ``base`` and the op count live in locals and are written back
    to the reader and collector before every handler call, which may read, refill, or run a
    nested pickle that counts against the same limits.
    """
    r, col, dispatch = m.r, m.col, m.dispatch
    stack, memo, marks = m.stack, m.memo, m.marks  # handlers mutate these in place, never rebind them
    limits = col.ctx.limits
    max_ops, max_items = limits.max_pickle_ops, limits.max_pickle_container_items
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
            # Inline fast paths; each falls through to the handler when it cannot finish.
            if code == _BINUNICODE or code == _SHORT_BINUNICODE:
                start = i + 4 if code == _BINUNICODE else i + 1
                if start <= end:
                    n = _U4(buf, i)[0] if code == _BINUNICODE else buf[i]
                    stop = start + n
                    if stop <= end and n <= KEEP:
                        try:
                            stack.append(buf[start:stop].decode("utf-8", "surrogatepass"))
                        except UnicodeDecodeError:
                            m.op_at = base + at
                            raise m.bad("invalid UTF-8 in a unicode argument") from None
                        i = stop
                        if len(stack) > max_items:
                            raise ScanLimitError("pickle stack grows beyond the item limit", col.where(base + at))
                        continue
            elif code == _BINPUT or code == _MEMOIZE:
                if (code == _MEMOIZE or i < end) and len(stack) > (marks[-1] if marks else 0):
                    if code == _BINPUT:
                        memo[buf[i]] = stack[-1]
                        i += 1
                    else:
                        memo[len(memo)] = stack[-1]
                    if len(memo) > max_items:
                        raise ScanLimitError("pickle memo grows beyond the item limit", col.where(base + at))
                    continue
            elif code == _BINGET:
                if i < end and buf[i] in memo:
                    stack.append(memo[buf[i]])
                    i += 1
                    if len(stack) > max_items:
                        raise ScanLimitError("pickle stack grows beyond the item limit", col.where(base + at))
                    continue
            elif code == _MARK:
                marks.append(len(stack))
                continue
            elif code == _TUPLE:
                if marks:
                    k = marks.pop()
                    items = tuple(stack[k:])
                    del stack[k:]
                    col.items += len(items)  # Collector.count, inline
                    if col.items > max_items:
                        raise col.too_many_items(base + at)
                    stack.append(items)
                    if len(stack) > max_items:
                        raise ScanLimitError("pickle stack grows beyond the item limit", col.where(base + at))
                    continue
            elif code == _GLOBAL:
                # An import line pair seen before (decoded and checked by the handler then).
                nl = buf.find(b"\n", i)
                nl2 = buf.find(b"\n", nl + 1) if nl >= 0 else -1
                ref = DECODED_IMPORTS.get((buf[i:nl], buf[nl + 1:nl2])) if nl2 >= 0 else None
                if ref is not None:
                    col.imported(ref, base + at, "GLOBAL")
                    stack.append(ref)
                    i = nl2 + 1
                    if len(stack) > max_items:
                        raise ScanLimitError("pickle stack grows beyond the item limit", col.where(base + at))
                    continue
            elif _TUPLE1 <= code <= _TUPLE3:
                n = code - _TUPLE1 + 1
                if len(stack) - (marks[-1] if marks else 0) >= n:  # else the handler reports the underflow
                    items = tuple(stack[-n:])
                    del stack[-n:]
                    col.items += n
                    if col.items > max_items:
                        raise col.too_many_items(base + at)
                    stack.append(items)
                    continue
            elif code in _CONSTANTS:
                stack.append(_CONSTANTS[code])
                if len(stack) > max_items:
                    raise ScanLimitError("pickle stack grows beyond the item limit", col.where(base + at))
                continue
            elif code == _BINFLOAT or code == _BININT1 or code == _BININT:
                size = _NUMBER_SIZE[code]
                if i + size <= end:
                    if code == _BININT1:
                        stack.append(buf[i])
                    else:
                        stack.append((_F8 if code == _BINFLOAT else _I4)(buf, i)[0])
                    i += size
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
