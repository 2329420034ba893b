"""Data formats that Hub repositories carry and that no loader runs code from.

Owns the scanners for images (PNG, JPEG, GIF, WebP, BMP, TIFF), example audio (WAV, FLAC, Ogg,
MP3 with an ID3 tag), PDF, SentencePiece models (``tokenizer.model``, ``spiece.model``: a
protobuf of pieces and normaliser rules), msgpack (``flax_model.msgpack``: flax restores it with
``msgpack`` plus an ndarray ext hook) and TFLite FlatBuffers. Their loaders only decode data,
so a file whose framing is sound is clean; a file whose framing is broken is unscannable
(MG-S001), since something that claims a format and does not follow it is not understood.
Bytes after the end of an image (but TIFF), a WAV or a PDF are reported (MG-S206) and
scanned by content, as they could hide a second payload.

Checks framing only, cheaply (chunk and field headers, never pixel or tensor data). Must not
decode images, load a tokenizer or unpack msgpack into Python objects.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from modelguard.models import Finding
from modelguard.rules import finding
from modelguard.scan.base import MalformedError, Outcome, ScanContext, ScanLimitError, Source
from modelguard.scan.streams import WindowSource, bounded, scan_nested

_MAX_CHUNKS = 1_000_000
"""PNG chunks / JPEG segments / protobuf fields / msgpack items walked before giving up"""
_MSGPACK_DEPTH = 64
_MAX_EMBEDDED = 1000
_MSGPACK_WINDOW = 1 << 20


def _read(f: BinaryIO, n: int, what: str, where: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise MalformedError(f"file ends inside {what}", where)
    return data


def _trailing(ctx: ScanContext, source: Source, end: int, fmt: str, findings: list[Finding]) -> None:
    if end >= source.size:
        return
    n = source.size - end
    findings.append(finding("MG-S206", f"{n} bytes after the end of the {fmt} data (offset {end})",
                            location=source.name))
    scan_nested(ctx, WindowSource(source, end, n, f"{source.name}!<{n} bytes at offset {end}>"), findings)


# ---- images ------------------------------------------------------------------------------------
def scan_image(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """An image: its container framing is walked to its end, pixel data is never decoded."""
    findings: list[Finding] = []
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        with bounded(source) as f:
            _trailing(ctx, source, _png_end(f, source), "PNG", findings)
    elif head.startswith(b"\xff\xd8\xff"):
        _trailing(ctx, source, _jpeg_end(source.read_all(ctx.limits.max_text_bytes), source.name), "JPEG", findings)
    elif head.startswith((b"GIF87a", b"GIF89a")):
        _trailing(ctx, source, _gif_end(source.read_all(ctx.limits.max_text_bytes), source.name), "GIF", findings)
    elif head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        _trailing(ctx, source, _riff_end(head, source), "WebP", findings)
    elif head.startswith(b"BM"):
        (size,) = struct.unpack("<I", head[2:6])
        if not 14 < size <= source.size:
            raise MalformedError(f"BMP claims {size} bytes, the file has {source.size}", source.name)
        _trailing(ctx, source, size, "BMP", findings)
    elif head.startswith((b"II*\0", b"MM\0*")):
        # TIFF directories and strips may sit anywhere in the file: only the first offset is checked.
        (ifd,) = struct.unpack("<I" if head[:1] == b"I" else ">I", head[4:8])
        if not 8 <= ifd < source.size:
            raise MalformedError(f"TIFF directory offset {ifd} outside the file", source.name)
    return Outcome("image", findings)


def _riff_end(head: bytes, source: Source) -> int:
    riff = int.from_bytes(head[4:8], "little")
    end = 8 + riff + (riff & 1)
    if end > source.size:
        raise MalformedError(f"RIFF claims {end} bytes, the file has {source.size}", source.name)
    return end


def _png_end(f: BinaryIO, source: Source) -> int:
    pos = 8
    for _ in range(_MAX_CHUNKS):
        f.seek(pos)
        header = _read(f, 8, "a PNG chunk header", source.name)
        length, kind = int.from_bytes(header[:4], "big"), header[4:]
        if not kind.isalpha():
            raise MalformedError(f"PNG chunk at offset {pos} has an invalid type {kind!r}", source.name)
        pos += 12 + length
        if pos > source.size:
            raise MalformedError(f"PNG chunk {kind.decode()} at offset {pos - 12 - length} runs past the end",
                                 source.name)
        if kind == b"IEND":
            return pos
    raise ScanLimitError(f"more than {_MAX_CHUNKS} PNG chunks", source.name)


def _jpeg_end(data: bytes, where: str) -> int:
    """Offset after the end-of-image marker: marker segments are walked by their lengths, and
    entropy-coded data after a start-of-scan up to the next marker (inside it 0xFF is always
    followed by 0x00 or a restart marker)."""
    pos = 2
    for _ in range(_MAX_CHUNKS):
        if data[pos:pos + 1] != b"\xff" or pos + 2 > len(data):
            raise MalformedError(f"JPEG marker expected at offset {pos}", where)
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # end of image
            return pos + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # stand-alone markers
            pos += 2
            continue
        if pos + 4 > len(data):
            raise MalformedError("file ends inside a JPEG segment header", where)
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2 or pos + 2 + length > len(data):
            raise MalformedError(f"JPEG segment at offset {pos} runs past the end", where)
        pos += 2 + length
        if marker == 0xDA:  # start of scan: skip the entropy-coded data
            pos = _next_jpeg_marker(data, pos, where)
    raise ScanLimitError(f"more than {_MAX_CHUNKS} JPEG segments", where)


def _next_jpeg_marker(data: bytes, pos: int, where: str) -> int:
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            raise MalformedError("JPEG scan data runs to the end of the file without an end-of-image marker", where)
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos += 2
            continue
        return pos


def _gif_end(data: bytes, where: str) -> int:
    """Offset after the trailer byte: header, colour tables, then extension and image blocks."""
    def sub_blocks(pos: int) -> int:
        while True:
            if pos >= len(data):
                raise MalformedError("file ends inside GIF data sub-blocks", where)
            if data[pos] == 0:
                return pos + 1
            pos += 1 + data[pos]

    if len(data) < 13:
        raise MalformedError("GIF shorter than its header", where)
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    for _ in range(_MAX_CHUNKS):
        if pos >= len(data):
            raise MalformedError("GIF without its trailer byte", where)
        kind = data[pos]
        if kind == 0x3B:
            return pos + 1
        if kind == 0x21:  # extension: label, then sub-blocks
            pos = sub_blocks(pos + 2)
        elif kind == 0x2C:  # image descriptor, local colour table, LZW code size, sub-blocks
            if pos + 10 > len(data):
                raise MalformedError("file ends inside a GIF image descriptor", where)
            flags = data[pos + 9]
            pos += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
            pos = sub_blocks(pos + 1)
        else:
            raise MalformedError(f"byte {kind:#04x} at offset {pos} is not a GIF block", where)
    raise ScanLimitError(f"more than {_MAX_CHUNKS} GIF blocks", where)


# ---- audio and PDF -----------------------------------------------------------------------------
def scan_audio(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """Example audio in ASR repos: WAV (RIFF size), FLAC (metadata blocks), Ogg (page headers), MP3 (ID3)."""
    findings: list[Finding] = []
    with bounded(source) as f:
        if head.startswith(b"RIFF"):
            _trailing(ctx, source, _riff_end(head, source), "WAV", findings)
        elif head.startswith(b"fLaC"):
            _flac_metadata(f, source)
        elif head.startswith(b"OggS"):
            _ogg_pages(f, source)
        elif head.startswith(b"ID3"):
            if len(head) < 10 or any(b & 0x80 for b in head[6:10]):
                raise MalformedError("ID3 tag size is not a synchsafe integer", source.name)
            size = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10]))  # 7 bits a byte
            if size > source.size:
                raise MalformedError(f"ID3 tag claims {size} bytes, the file has {source.size}", source.name)
    return Outcome("audio", findings)


def _flac_metadata(f: BinaryIO, source: Source) -> None:
    pos = 4
    for _ in range(_MAX_CHUNKS):
        f.seek(pos)
        header = _read(f, 4, "a FLAC metadata block header", source.name)
        pos += 4 + int.from_bytes(header[1:4], "big")
        if pos > source.size:
            raise MalformedError("FLAC metadata block runs past the end", source.name)
        if header[0] & 0x80:  # last metadata block; audio frames follow
            return
    raise ScanLimitError(f"more than {_MAX_CHUNKS} FLAC metadata blocks", source.name)


def _ogg_pages(f: BinaryIO, source: Source) -> None:
    pos = 0
    for _ in range(_MAX_CHUNKS):
        if pos == source.size:
            return
        f.seek(pos)
        header = _read(f, 27, "an Ogg page header", source.name)
        if header[:4] != b"OggS":
            raise MalformedError(f"Ogg page expected at offset {pos}", source.name)
        segments = _read(f, header[26], "an Ogg segment table", source.name)
        pos += 27 + len(segments) + sum(segments)
        if pos > source.size:
            raise MalformedError("Ogg page runs past the end", source.name)
    raise ScanLimitError(f"more than {_MAX_CHUNKS} Ogg pages", source.name)


def scan_pdf(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """A PDF (papers, model cards): no model loader opens one. It must end with its last
    ``%%EOF`` marker (incremental updates append whole sections that end with one too)."""
    findings: list[Finding] = []
    tail_start = max(0, source.size - 1024)
    with bounded(source) as f:
        f.seek(tail_start)
        tail = f.read()
    at = tail.rfind(b"%%EOF")
    if at < 0:
        raise MalformedError("PDF without %%EOF in its last 1024 bytes (truncated, or data appended)", source.name)
    end = tail_start + at + 5
    rest = tail[at + 5:]
    if rest.strip(b"\r\n \t\0"):
        _trailing(ctx, source, end, "PDF", findings)
    return Outcome("pdf", findings)


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
        if len(out) >= _MAX_CHUNKS:
            raise ScanLimitError(f"more than {_MAX_CHUNKS} protobuf fields", where)
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
        if self.items > _MAX_CHUNKS:
            raise ScanLimitError(f"more than {_MAX_CHUNKS} msgpack values", self.where)
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
    """A TFLite FlatBuffer: the root table and its vtable must lie inside the file."""
    if len(head) < 12:
        raise MalformedError("TFLite file shorter than its header", source.name)
    (root,) = struct.unpack("<I", head[:4])
    if not 8 <= root <= source.size - 4:
        raise MalformedError(f"TFLite root table offset {root} outside the file", source.name)
    with bounded(source) as f:
        f.seek(root)
        (vt_rel,) = struct.unpack("<i", _read(f, 4, "the root table", source.name))
        vtable = root - vt_rel
        if not 0 <= vtable <= source.size - 4:
            raise MalformedError(f"TFLite vtable offset {vtable} outside the file", source.name)
    return Outcome("tflite")
