"""Structured data formats in model repositories that no loader runs code from.

Owns the scanners for SentencePiece models (``tokenizer.model``, ``spiece.model``: a protobuf
of pieces and normaliser rules) and compiled normaliser rule files (``nfkc.bin``), msgpack
(``flax_model.msgpack``: flax restores it with ``msgpack`` plus an ndarray ext hook;
msgpack-numpy and srsly pickle object arrays, so a value that starts like a pickle is scanned
as one) and TFLite FlatBuffers (with the zip of "associated files" that tflite-support's
metadata writer appends: its members are scanned like any zip's). Media files are in
:mod:`modelguard.scan.media`. A file whose framing is sound is clean; a file whose framing is
broken is unscannable (MG-S001), since something that claims a format and does not follow it
is not understood.

Checks framing only, cheaply; must not load a tokenizer or unpack msgpack into Python objects.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from modelguard.models import Finding
from modelguard.scan.base import MalformedError, Outcome, ScanContext, ScanLimitError, Source
from modelguard.scan.streams import WindowSource, bounded, scan_nested

MAX_WALK = 1_000_000
"""chunks, segments, protobuf fields or msgpack values walked before giving up"""
_MSGPACK_DEPTH = 64
_MAX_EMBEDDED = 1000
_MSGPACK_WINDOW = 1 << 20


def read_exact(f: BinaryIO, n: int, what: str, where: str) -> bytes:
    """``n`` bytes, or MalformedError naming ``what`` the file ends inside."""
    data = f.read(n)
    if len(data) != n:
        raise MalformedError(f"file ends inside {what}", where)
    return data


# ---- protobuf (SentencePiece) ------------------------------------------------------------------
def _varint(buf: bytes, pos: int, end: int, where: str) -> tuple[int, int]:
    value, shift = 0, 0
    while pos < end and shift < 64:
        b = buf[pos]
        value |= (b & 0x7F) << shift
        pos += 1
        if not b & 0x80:
            return value, pos
        shift += 7
    raise MalformedError("bad protobuf varint", where)


def _fields(buf: bytes, start: int, end: int, where: str) -> list[tuple[int, int, int, int]]:
    """(field number, wire type, value start, value end) of every field in ``buf[start:end]``."""
    out: list[tuple[int, int, int, int]] = []
    pos = start
    while pos < end:
        if len(out) >= MAX_WALK:
            raise ScanLimitError(f"more than {MAX_WALK} protobuf fields", where)
        key, pos = _varint(buf, pos, end, where)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, after = _varint(buf, pos, end, where)
        elif wire == 1:
            after = pos + 8
        elif wire == 5:
            after = pos + 4
        elif wire == 2:
            length, pos = _varint(buf, pos, end, where)
            after = pos + length
        else:
            raise MalformedError(f"protobuf wire type {wire} is not used by this format", where)
        if after > end or number == 0:
            raise MalformedError(f"protobuf field {number} at offset {pos} runs past its message", where)
        out.append((number, wire, pos, after))
        pos = after
    return out


# ModelProto: 1 pieces, 2 trainer_spec, 3 normalizer_spec, 4 self_test_data, 5 denormalizer_spec.
# SentencePiece: 1 piece (string), 2 score (float), 3 type (enum).
_SPM_PIECE_FIELDS = {1: 2, 2: 5, 3: 0}
_SPM_CHECKED_PIECES = 1000
"""pieces whose own fields are checked (enough to tell the format; a 256k vocabulary stays fast)"""


def scan_sentencepiece(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """A SentencePiece ModelProto: every top-level field must be a length-delimited field 1..5
    inside the file, and the first pieces must have the piece layout (which tells a tokenizer
    from other protobufs, e.g. a TF GraphDef). The loader only parses it; no field runs code."""
    buf = source.read_all(ctx.limits.max_text_bytes)
    where, size, pos, pieces = source.name, len(buf), 0, 0
    while pos < size:
        key, pos = _varint(buf, pos, size, where)
        if key & 7 != 2 or not 1 <= key >> 3 <= 5:
            raise MalformedError(f"field {key >> 3} (wire type {key & 7}) is not part of a SentencePiece model",
                                 where)
        length, pos = _varint(buf, pos, size, where)
        if pos + length > size:
            raise MalformedError(f"field {key >> 3} at offset {pos} runs past the end of the file", where)
        if key >> 3 == 1:
            pieces += 1
            if pieces <= _SPM_CHECKED_PIECES:
                for n, w, _, _ in _fields(buf, pos, pos + length, where):
                    if _SPM_PIECE_FIELDS.get(n) != w:
                        raise MalformedError(f"piece {pieces} has field {n} (wire type {w}): not a SentencePiece "
                                             "piece", where)
        pos += length
    if not pieces:
        raise MalformedError("SentencePiece model without pieces", where)
    return Outcome("sentencepiece")


def scan_spm_normalizer(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """SentencePiece's compiled normalisation rules (``nfkc.bin``, the ``precompiled_charsmap`` of a
    model): a uint32 trie size, the Darts double-array trie, then the replacement strings, each
    UTF-8 ending in NUL. SentencePiece only looks strings up in it."""
    data = source.read_all(ctx.limits.max_text_bytes)
    (trie,) = struct.unpack("<I", data[:4])
    strings = data[4 + trie:]
    if not strings.endswith(b"\0"):
        raise MalformedError("normaliser strings do not end with NUL", source.name)
    try:
        strings.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedError(f"normaliser string at offset {4 + trie + e.start} is not UTF-8", source.name) from None
    return Outcome("sentencepiece-normalizer")


# ---- msgpack (flax) ----------------------------------------------------------------------------
def scan_msgpack(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """One msgpack document that fills the file exactly; bin/str/ext payloads are skipped by length.

    flax decodes only ndarrays from its ext types, but msgpack-numpy and srsly hand object
    arrays to ``pickle.loads``: a payload that starts like a pickle is scanned as one.
    """
    findings: list[Finding] = []
    with bounded(source) as f:
        walker = _MsgpackWalker(f, source.name, source.size)
        walker.value(0)
        if walker.pos != source.size:
            raise MalformedError(f"msgpack document ends at offset {walker.pos}, the file has {source.size} bytes",
                                 source.name)
    for start, length in walker.pickles:
        name = f"{source.name}!<{length} bytes at offset {start}>"
        scan_nested(ctx, WindowSource(source, start, length, name), findings)
    return Outcome("msgpack", findings)


# first byte -> (payload length bytes, kind): kind "raw" skips the payload, "ext" skips it plus a type
# byte, "array"/"map" read that many items.
_MSGPACK_SIZED = {
    0xC4: (1, "raw"), 0xC5: (2, "raw"), 0xC6: (4, "raw"),  # bin 8/16/32
    0xD9: (1, "raw"), 0xDA: (2, "raw"), 0xDB: (4, "raw"),  # str 8/16/32
    0xC7: (1, "ext"), 0xC8: (2, "ext"), 0xC9: (4, "ext"),  # ext 8/16/32
    0xDC: (2, "array"), 0xDD: (4, "array"), 0xDE: (2, "map"), 0xDF: (4, "map"),
}
_MSGPACK_FIXED = {0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8,
                  0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17}  # numbers and fixext (type byte + data)


class _MsgpackWalker:
    def __init__(self, f: BinaryIO, where: str, end: int) -> None:
        self.f = f
        self.where = where
        self.end = end
        self.pos = 0
        self.items = 0
        self.pickles: list[tuple[int, int]] = []
        """(offset, length) of bin/ext payloads that start with a pickle protocol header"""
        self._cache = b""
        self._cache_at = 0

    def _peek(self, at: int, n: int) -> bytes:
        """``n`` bytes at ``at``, read through a window so small values cost no system call."""
        offset = at - self._cache_at
        if offset < 0 or offset + n > len(self._cache):
            self.f.seek(at)
            self._cache, self._cache_at, offset = self.f.read(max(n, _MSGPACK_WINDOW)), at, 0
        data = self._cache[offset:offset + n]
        if len(data) != n:
            raise MalformedError("file ends inside a msgpack value", self.where)
        return data

    def _take(self, n: int) -> bytes:
        data = self._peek(self.pos, n)
        self.pos += n
        return data

    def value(self, depth: int) -> None:
        if depth > _MSGPACK_DEPTH:
            raise ScanLimitError(f"msgpack nested deeper than {_MSGPACK_DEPTH}", self.where)
        self.items += 1
        if self.items > MAX_WALK:
            raise ScanLimitError(f"more than {MAX_WALK} msgpack values", self.where)
        b = self._take(1)[0]
        if b <= 0x7F or b >= 0xE0 or b in (0xC0, 0xC2, 0xC3):  # fixint, nil, bool
            return
        if 0xA0 <= b <= 0xBF:  # fixstr
            self.pos += b & 0x1F
        elif 0x90 <= b <= 0x9F:
            self._items(b & 0x0F, depth)
        elif 0x80 <= b <= 0x8F:
            self._items(2 * (b & 0x0F), depth)
        elif b in _MSGPACK_FIXED:
            self.pos += _MSGPACK_FIXED[b]
        elif b in _MSGPACK_SIZED:
            width, kind = _MSGPACK_SIZED[b]
            n = int.from_bytes(self._take(width), "big")
            if kind == "array":
                self._items(n, depth)
            elif kind == "map":
                self._items(2 * n, depth)
            else:
                start = self.pos + (1 if kind == "ext" else 0)
                self.pos = start + n
                self._note_pickle(start, n)
        else:
            raise MalformedError(f"byte {b:#04x} at offset {self.pos - 1} is not a msgpack type", self.where)

    def _note_pickle(self, start: int, n: int) -> None:
        if n < 2 or start + n > self.end:
            return
        first = self._peek(start, 2)
        if first[:1] == b"\x80" and 2 <= first[1] <= 5:
            if len(self.pickles) >= _MAX_EMBEDDED:
                raise ScanLimitError(f"more than {_MAX_EMBEDDED} pickles inside msgpack values", self.where)
            self.pickles.append((start, n))

    def _items(self, n: int, depth: int) -> None:
        for _ in range(n):
            self.value(depth + 1)


# ---- TFLite ------------------------------------------------------------------------------------
def scan_tflite(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """A TFLite FlatBuffer: the root table and its vtable must lie inside the file. An appended
    zip (associated files: labels, vocabularies) is a real zip over the whole file, so any zip
    reader (Keras' ``load_model`` among them) opens it: its members are scanned."""
    _check_flatbuffer(source, head)
    with source.open() as f:
        f.seek(max(0, source.size - (65_536 + 22)))
        has_zip = b"PK\x05\x06" in f.read()
    if not has_zip:
        return Outcome("tflite")
    from modelguard.scan import zipscan

    inner = zipscan.scan(ctx, source, head, prefix="the TFLite model")
    return Outcome("tflite", inner.findings)


def _check_flatbuffer(source: Source, head: bytes) -> None:
    if len(head) < 12:
        raise MalformedError("TFLite file shorter than its header", source.name)
    (root,) = struct.unpack("<I", head[:4])
    if not 8 <= root <= source.size - 4:
        raise MalformedError(f"TFLite root table offset {root} outside the file", source.name)
    with bounded(source) as f:
        f.seek(root)
        (vt_rel,) = struct.unpack("<i", read_exact(f, 4, "the root table", source.name))
        vtable = root - vt_rel
        if not 0 <= vtable <= source.size - 4:
            raise MalformedError(f"TFLite vtable offset {vtable} outside the file", source.name)
