"""Protobuf wire format: a bounded walker, and telling protobuf message types apart by structure.

Protobuf files carry no magic: an ONNX model, a TensorFlow SavedModel, a CoreML ``.mlmodel``
and a mediapipe graph all start ``08 xx 12 ...`` or ``0a ...``. :func:`identify` fits the first
bytes of a file against the field layout of each message type modelguard scans (every field
number known, every wire type right, nested messages parsed as far as the head reaches) and
names the one that fits; the format scanners then walk the whole file.

Owns the wire reader (:class:`Wire`) and the layouts used for identification. Pure: works on
bytes it is given; never imports ``protobuf`` or ``onnx`` (their parsers accept what we would
need to reject, and a dependency for ~100 lines of wire format does not earn its weight).
"""

from __future__ import annotations

import io
import mmap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Union

from modelguard.models import Format
from modelguard.scan.base import MalformedError, ScanContext, ScanLimitError, Source

MAX_FIELDS = 50_000_000
"""fields one file may hold before the walk gives up (a bomb of empty fields)"""

# ---- the wire reader ----------------------------------------------------------------------------
Buffer = bytes | bytearray | memoryview | mmap.mmap


class Wire:
    """Bounds-checked protobuf fields of a byte buffer (a file's bytes or a memory map)."""

    def __init__(self, buf: Buffer, name: str) -> None:
        self.buf = buf
        self.name = name
        self.fields_read = 0

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        result = shift = 0
        buf = self.buf
        while True:
            if pos >= end or shift > 63:
                raise MalformedError("truncated or overlong protobuf varint", f"{self.name}@offset {pos}")
            b = buf[pos]
            result |= (b & 0x7F) << shift
            pos += 1
            shift += 7
            if not b & 0x80:
                return result, pos

    def fields(self, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
        """(field number, wire type, value start or the varint itself, value end) of each field."""
        pos = start
        while pos < end:
            self.fields_read += 1
            if self.fields_read > MAX_FIELDS:
                raise ScanLimitError(f"more than {MAX_FIELDS} protobuf fields", self.name)
            at = pos
            key, pos = self.varint(pos, end)
            number, wire = key >> 3, key & 7
            if number == 0:
                raise MalformedError("protobuf field number 0", f"{self.name}@offset {at}")
            if wire == 0:
                value, pos = self.varint(pos, end)
                yield number, 0, value, pos
                continue
            if wire == 2:
                length, pos = self.varint(pos, end)
                after = pos + length
            elif wire in (1, 5):
                after = pos + (8 if wire == 1 else 4)
            else:
                what = "(groups are not used by this format)" if wire in (3, 4) else "(not a protobuf wire type)"
                raise MalformedError(f"protobuf wire type {wire} {what}", f"{self.name}@offset {at}")
            if after > end:
                raise MalformedError(f"protobuf field {number} runs past its message", f"{self.name}@offset {at}")
            yield number, wire, pos, after
            pos = after

    def text(self, start: int, end: int) -> str:
        return bytes(self.buf[start:end]).decode("utf-8", errors="replace")


# ---- layouts for identification -----------------------------------------------------------------
# A layout maps field number -> what the field holds: V varint, F32/F64 fixed, S bytes or string,
# T text (UTF-8 without control characters), P a scalar that may also be packed, or a nested layout.
V, F32, F64, S, T, P = "v", "f32", "f64", "s", "t", "p"
Layout = dict[int, Union[str, "Layout"]]

_WIRES: dict[str, frozenset[int]] = {V: frozenset({0}), F32: frozenset({5}), F64: frozenset({1}),
                                     S: frozenset({2}), T: frozenset({2}), P: frozenset({0, 1, 2, 5})}

# ONNX (onnx.proto3): values the backend tests store as input_N.pb / output_N.pb.
_STRING_PAIR: Layout = {1: T, 2: S}
ONNX_TENSOR: Layout = {1: P, 2: V, 3: {1: V, 2: V}, 4: P, 5: P, 6: S, 7: P, 8: T, 9: S, 10: P, 11: P, 12: T,
                       13: _STRING_PAIR, 14: V, 16: _STRING_PAIR}
_ONNX_SPARSE: Layout = {1: ONNX_TENSOR, 2: ONNX_TENSOR, 3: P}
ONNX_SEQUENCE: Layout = {1: T, 2: V, 3: ONNX_TENSOR, 4: _ONNX_SPARSE}
ONNX_MAP: Layout = {1: T, 2: V, 3: P, 4: S, 5: ONNX_SEQUENCE}
ONNX_OPTIONAL: Layout = {1: T, 2: V, 3: ONNX_TENSOR, 4: _ONNX_SPARSE, 5: ONNX_SEQUENCE, 6: ONNX_MAP}
ONNX_SEQUENCE.update({5: ONNX_SEQUENCE, 6: ONNX_MAP, 7: ONNX_OPTIONAL})
ONNX_OPTIONAL[7] = ONNX_OPTIONAL

# TensorFlow (tensorflow/core/framework, protobuf/meta_graph.proto, saved_model.proto).
TF_NODE: Layout = {1: T, 2: T, 3: T, 4: T, 5: {1: T, 2: S}, 6: {1: T, 2: T}, 7: S}
"""NodeDef: name, op, input, device, attr (map entries), experimental_debug_info, experimental_type"""
TF_GRAPH: Layout = {1: TF_NODE, 2: S, 3: V, 4: S, 5: S}
_TF_ARG: Layout = {1: T, 2: T, 3: V, 4: T, 5: T, 6: T, 7: S, 16: V, 17: S}
_TF_OP: Layout = {1: T, 2: _TF_ARG, 3: _TF_ARG, 4: S, 5: S, 6: T, 7: T, 16: V, 17: V, 18: V, 19: V, 20: T, 21: V}
_TF_META_INFO: Layout = {1: T, 2: {1: _TF_OP}, 3: S, 4: T, 5: T, 6: T, 7: V, 8: S}
_TF_META_GRAPH: Layout = {1: _TF_META_INFO, 2: TF_GRAPH, 3: S, 4: S, 5: S, 6: S, 7: S}
TF_SAVED_MODEL: Layout = {1: V, 2: _TF_META_GRAPH}

# CoreML (coremltools/proto/Model.proto): the model types are fields 200..3000 of Model.
_COREML_FEATURE: Layout = {1: T, 2: T, 3: S}
_COREML_DESCRIPTION: Layout = {1: _COREML_FEATURE, 10: _COREML_FEATURE, 11: T, 12: T, 13: _COREML_FEATURE,
                               20: S, 21: T, 50: _COREML_FEATURE, 100: S}
COREML_TYPES = frozenset({200, 201, 202, 300, 301, 302, 303, 304, 400, 401, 402, 403, 404, 500, 501, 502, 555,
                          556, 560, 600, 601, 602, 603, 604, 606, 607, 609, 610, 900, 2000, 2001, 2002, 2003, 2004,
                          2005, 2006, 3000})
COREML_MODEL: Layout = {1: V, 2: _COREML_DESCRIPTION, 10: V, **{n: S for n in COREML_TYPES}}

# mediapipe (mediapipe/framework/calculator.proto): CalculatorGraphConfig and its Node.
_MP_NODE: Layout = {1: T, 2: T, 3: T, 4: T, 5: T, 6: T, 7: S, 8: S, 9: V, 10: V, 11: S, 12: S, 13: S, 14: T,
                    15: S, 16: V, 17: T, 18: T}
MEDIAPIPE_GRAPH: Layout = {1: _MP_NODE, 2: S, 3: S, 4: V, 5: S, 10: T, 11: V, 12: V, 13: S, 14: S, 15: T, 16: T,
                           17: T, 18: S, 19: S, 20: T, 21: T, 1001: S, 1002: S}

# SentencePiece ModelProto: pieces (piece, score, type), trainer/normaliser specs, self-test data.
SENTENCEPIECE: Layout = {1: {1: S, 2: F32, 3: V}, 2: S, 3: S, 4: S, 5: S}


class _Mismatch(Exception):
    pass


def fit(buf: bytes, start: int, end: int, layout: Layout, depth: int = 0) -> int:
    """How many fields of ``buf[start:end]`` fit ``layout`` before the bytes run out (``end`` may
    lie past ``len(buf)``: the head of a larger file). Raises _Mismatch on the first field that
    does not fit."""
    if depth > 12:
        return 0
    wire = Wire(buf, "")
    stop = min(end, len(buf))
    count = 0
    pos = start
    while pos < stop:
        try:
            key, pos = wire.varint(pos, stop)
            number, kind = key >> 3, key & 7
            want = layout.get(number)
            if want is None or kind not in (_WIRES[want] if isinstance(want, str) else {2}):
                raise _Mismatch
            if kind == 0:
                _, pos = wire.varint(pos, stop)
                count += 1
                continue
            if kind == 2:
                length, pos = wire.varint(pos, stop)
                after = pos + length
            else:
                after = pos + (8 if kind == 1 else 4)
        except MalformedError:
            return count  # the head ends inside this field
        if after > end:
            raise _Mismatch
        if isinstance(want, dict):
            count += fit(buf, pos, after, want, depth + 1)
        elif want == T and not _is_text(bytes(buf[pos:min(after, stop)])):
            raise _Mismatch
        count += 1
        pos = after
    return count


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(data) - 3:  # a character cut by the end of the head is still text
            return False
        text = data[:e.start].decode("utf-8")
    return not any(ord(c) < 32 and c not in "\t\n\r" for c in text)


def fits(head: bytes, size: int, layout: Layout, minimum: int = 3) -> bool:
    """Whether the file whose first bytes are ``head`` (``size`` in all) is a ``layout`` message."""
    try:
        n = fit(head, 0, size, layout)
    except _Mismatch:
        return False
    return n >= minimum or (len(head) == size and n >= 1)


def identify(head: bytes, size: int) -> Format | None:
    """The protobuf message type of a file by its structure, or None.

    Ordered from the most constrained layout to the least: a SavedModel and a CoreML model both
    start like an ONNX model (``08 xx 12``) but differ one level down; a GraphDef and a mediapipe
    graph both start with a node, but a TensorFlow node begins with its name and carries attr map
    entries; an ONNX tensor's layout accepts most byte strings, so it comes last and needs its
    data type. Printable text is never a protobuf: every message has tag bytes below 0x20."""
    if not head or head[0] not in (0x08, 0x0A, 0x10, 0x12) or not _has_binary_bytes(head):
        return None
    top = _first_fields(head, size)
    if not top:
        return None
    numbers = [n for n, _, _, _ in top]
    if numbers[:2] == [1, 2] and top[0][1] == 0 and top[0][2] == 1 and fits(head, size, TF_SAVED_MODEL, 5):
        return Format.TF_SAVED_MODEL
    if numbers[0] == 1 and top[0][1] == 0 and 1 <= top[0][2] <= 20 and fits(head, size, COREML_MODEL, 5) \
            and (any(n in COREML_TYPES for n in numbers) or _description_first(head, top)):
        return Format.COREML
    if numbers[0] == 1 and top[0][1] == 2:
        if fits(head, size, TF_GRAPH, 6) and _tf_nodes(head, top):
            return Format.TF_GRAPHDEF
        if fits(head, size, SENTENCEPIECE, 3):
            return Format.SENTENCEPIECE
    if numbers[0] == 1 and top[0][1] == 2 and fits(head, size, MEDIAPIPE_GRAPH, 4) and _calculator_node(head, top):
        return Format.MEDIAPIPE_GRAPH
    if _onnx_value_typed(top) and any(fits(head, size, layout, 2)
                                      for layout in (ONNX_TENSOR, ONNX_SEQUENCE, ONNX_MAP, ONNX_OPTIONAL)):
        return Format.ONNX_TENSOR
    return None


def _has_binary_bytes(head: bytes) -> bool:
    return any(b < 0x20 and b not in (0x09, 0x0A, 0x0D) for b in head[:256])


def _first_fields(head: bytes, size: int) -> list[tuple[int, int, int, int]]:
    """Top-level (number, wire, start or value, end) of the fields that start in the head; the
    last may end past it (inside the file of ``size`` bytes). No nested check."""
    out: list[tuple[int, int, int, int]] = []
    wire = Wire(head, "")
    pos, stop = 0, len(head)
    try:
        while pos < stop:
            key, pos = wire.varint(pos, stop)
            number, kind = key >> 3, key & 7
            if number == 0 or kind not in (0, 1, 2, 5):
                break
            if kind == 0:
                value, pos = wire.varint(pos, stop)
                out.append((number, 0, value, pos))
                continue
            if kind == 2:
                length, pos = wire.varint(pos, stop)
                after = pos + length
            else:
                after = pos + (8 if kind == 1 else 4)
            if after > size:
                break
            out.append((number, kind, pos, after))
            pos = after
    except MalformedError:
        pass  # the head ends inside a field: what was read is enough to identify
    return out


def _inner(head: bytes, field: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
    _, _, start, end = field
    return _first_fields(head[start:min(end, len(head))], end - start)


def _description_first(head: bytes, top: list[tuple[int, int, int, int]]) -> bool:
    """CoreML's field 2 is a ModelDescription whose first field is a FeatureDescription (input)."""
    return len(top) > 1 and top[1][0] == 2 and top[1][1] == 2 and head[top[1][2]:top[1][2] + 1] == b"\x0a"


def _tf_nodes(head: bytes, top: list[tuple[int, int, int, int]]) -> bool:
    """GraphDef nodes begin with their name (field 1) then their op (field 2), and some node in
    the head carries an attr map entry (field 5): mediapipe nodes start with the calculator and
    have no map entries."""
    nodes = [_inner(head, f) for f in top if f[0] == 1 and f[1] == 2]
    first = nodes[0] if nodes else []
    named = [n for n, _, _, _ in first[:2]] == [1, 2]
    return named and any(n == 5 and w == 2 for node in nodes for n, w, _, _ in node)


def _calculator_node(head: bytes, top: list[tuple[int, int, int, int]]) -> bool:
    """A CalculatorGraphConfig's first node names its calculator (field 2)."""
    return any(n == 2 and w == 2 for n, w, _, _ in _inner(head, top[0]))


def _onnx_value_typed(top: list[tuple[int, int, int, int]]) -> bool:
    """A TensorProto has a data_type (field 2, 1..30); sequences, maps and optionals an elem_type."""
    return any(n == 2 and w == 0 and 1 <= v <= 30 for n, w, v, _ in top)


@contextmanager
def mapped(ctx: ScanContext, source: Source) -> Iterator[bytes | mmap.mmap]:
    """The source's bytes, memory-mapped when it is a file on disk."""
    with source.open() as f:
        try:
            buf: bytes | mmap.mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, io.UnsupportedOperation, ValueError):
            buf = source.read_all(ctx.limits.max_pickle_bytes)
        try:
            yield buf
        finally:
            if isinstance(buf, mmap.mmap):
                buf.close()
