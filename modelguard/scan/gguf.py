"""GGUF (llama.cpp, Ollama): header and metadata framing, and the chat templates it carries.

Owns the parse of the GGUF header (magic, version 1-3, tensor and key-value counts), every
metadata key-value pair (typed values, strings and arrays, each length checked against the
bytes left in the file before anything is read or allocated), and the tensor-info table
(name, at most 4 dimensions, type, aligned offset inside the file). String values that hold
a Jinja template (``tokenizer.chat_template`` and its named variants, or anything with
``{{``/``{%``) go to :mod:`modelguard.scan.templates`.

An unknown value type, a length past the end of the file or a bad version makes the file
unscannable (MG-S001). Must never read tensor data.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from modelguard.models import Finding
from modelguard.scan.base import MalformedError, Outcome, ScanContext, ScanLimitError, Source
from modelguard.scan.templates import check_template, looks_like_template

# value type -> struct format of one scalar
_SCALARS: dict[int, str] = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
                            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAX_DIMS = 4
_MAX_ARRAY_DEPTH = 4
_DEFAULT_ALIGNMENT = 32
# ggml type -> (elements per block, bytes per block), for the stable types (checked against
# gguf-py 0.19's GGML_QUANT_SIZES; its newest experimental types are left to the offset check).
_GGML_BLOCKS: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 40),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17),
}


class _Reader:
    """Reads through a window with a position and a hard end: nothing past the file is requested,
    and a length is checked against the bytes left before anything is read or allocated."""

    _WINDOW = 1 << 20

    def __init__(self, f: BinaryIO, size: int, name: str) -> None:
        self.f = f
        self.size = size
        self.pos = 0
        self.name = name
        self.buf = b""
        self.buf_start = 0

    def at(self, pos: int) -> str:
        return f"{self.name}@offset {pos}" if self.name else f"offset {pos}"

    def _check(self, n: int, what: str) -> None:
        if n < 0 or n > self.size - self.pos:
            raise MalformedError(f"{what} of {n} bytes runs past the end of the file", self.at(self.pos))

    def take(self, n: int, what: str) -> bytes:
        self._check(n, what)
        lo = self.pos - self.buf_start
        if lo < 0 or lo + n > len(self.buf):
            self.f.seek(self.pos)
            self.buf = self.f.read(max(n, self._WINDOW))
            self.buf_start, lo = self.pos, 0
            if len(self.buf) < n:
                raise MalformedError(f"file ended inside {what}", self.at(self.pos))
        self.pos += n
        return self.buf[lo:lo + n]

    def skip(self, n: int, what: str) -> None:
        self._check(n, what)
        self.pos += n

    def skip_strings(self, n: int, count: str, what: str) -> None:
        """Skip ``n`` length-prefixed strings (token lists hold hundreds of thousands)."""
        width = struct.calcsize(count)
        unpack_from = struct.Struct(count).unpack_from
        for _ in range(n):
            lo = self.pos - self.buf_start
            if 0 <= lo and lo + width <= len(self.buf):
                (length,) = unpack_from(self.buf, lo)
                self.pos += width
            else:
                length = int(self.unpack(count, f"length of {what}"))
            self._check(length, what)
            self.pos += length

    def unpack(self, fmt: str, what: str) -> int | float | bool:
        value: int | float | bool = struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]
        return value


def scan(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """Parse a GGUF file's header, metadata and tensor infos; review its templates."""
    with source.open() as f:
        r = _Reader(f, source.size, source.name if ctx.depth else "")
        return Outcome("gguf", _parse(r, ctx))


def _parse(r: _Reader, ctx: ScanContext) -> list[Finding]:
    if r.take(4, "magic") != b"GGUF":
        raise MalformedError("not a GGUF file", r.name)
    version = int(r.unpack("<I", "version"))
    if version not in (1, 2, 3):
        raise MalformedError(f"unsupported GGUF version {version}", r.at(4))
    count = "<I" if version == 1 else "<Q"  # v1 used 32-bit counts and string lengths
    n_tensors = int(r.unpack(count, "tensor count"))
    n_kv = int(r.unpack(count, "metadata count"))
    # Every key-value pair takes at least 12 bytes and every tensor info at least 24:
    # counts that cannot fit in the file are refused before any loop runs.
    if n_kv * 12 + n_tensors * 24 > r.size - r.pos:
        raise MalformedError(f"{n_kv} metadata entries and {n_tensors} tensors cannot fit in {r.size} bytes",
                             r.at(8))
    out: list[Finding] = []
    alignment = _DEFAULT_ALIGNMENT
    text_budget = ctx.limits.max_text_bytes
    for _ in range(n_kv):
        key_at = r.pos
        key = _string(r, count, "metadata key").decode("utf-8", errors="replace")
        vtype = int(r.unpack("<I", "value type"))
        if vtype == _STRING:
            raw = _string(r, count, f"value of {key}")
            value = raw.decode("utf-8", errors="replace")
            if "template" in key or looks_like_template(value):
                text_budget -= len(raw)
                if text_budget < 0:
                    raise ScanLimitError("more template text than the analysis limit", r.at(key_at))
                out.extend(check_template(value, _loc(r.name, key)))
        elif vtype == _ARRAY:
            out.extend(_array(r, count, key, 1))
        elif vtype in _SCALARS:
            number = r.unpack(_SCALARS[vtype], f"value of {key}")
            if key == "general.alignment":
                alignment = int(number)
                if alignment <= 0 or alignment & (alignment - 1) or vtype != 4:
                    raise MalformedError(f"general.alignment {alignment} is not a power of two (uint32)",
                                         r.at(key_at))
        else:
            raise MalformedError(f"unknown value type {vtype} for {key!r}", r.at(key_at))
    _tensor_infos(r, n_tensors, count, alignment)
    return out


def _loc(name: str, key: str) -> str:
    return f"{name}:{key}" if name else key


def _string(r: _Reader, count: str, what: str) -> bytes:
    n = int(r.unpack(count, f"length of {what}"))
    return r.take(n, what)


def _array(r: _Reader, count: str, key: str, depth: int) -> list[Finding]:
    if depth > _MAX_ARRAY_DEPTH:
        raise ScanLimitError(f"arrays nested deeper than {_MAX_ARRAY_DEPTH} in {key!r}", r.at(r.pos))
    etype = int(r.unpack("<I", f"element type of {key}"))
    n = int(r.unpack(count, f"length of {key}"))
    out: list[Finding] = []
    if etype in _SCALARS:
        r.skip(n * struct.calcsize(_SCALARS[etype]), f"array {key}")
    elif etype == _STRING:
        if n * (4 if count == "<I" else 8) > r.size - r.pos:
            raise MalformedError(f"array {key!r} of {n} strings cannot fit in the file", r.at(r.pos))
        if "template" not in key:
            r.skip_strings(n, count, f"element of {key}")
            return out
        for i in range(n):
            raw = _string(r, count, f"{key}[{i}]")
            out.extend(check_template(raw.decode("utf-8", errors="replace"), _loc(r.name, f"{key}[{i}]")))
    elif etype == _ARRAY:
        if n * 12 > r.size - r.pos:
            raise MalformedError(f"array {key!r} of {n} arrays cannot fit in the file", r.at(r.pos))
        for _ in range(n):
            out.extend(_array(r, count, key, depth + 1))
    else:
        raise MalformedError(f"unknown array element type {etype} for {key!r}", r.at(r.pos))
    return out


def _tensor_infos(r: _Reader, n_tensors: int, count: str, alignment: int) -> None:
    infos: list[tuple[int, int, str]] = []
    for i in range(n_tensors):
        name = _string(r, count, f"tensor {i} name").decode("utf-8", errors="replace")
        n_dims = int(r.unpack("<I", f"tensor {name!r} dimension count"))
        if n_dims > _MAX_DIMS:
            raise MalformedError(f"tensor {name!r} has {n_dims} dimensions (at most {_MAX_DIMS})",
                                 r.at(r.pos))
        elements = 1
        for _ in range(n_dims):
            elements *= int(r.unpack(count, f"tensor {name!r} dimension"))
        ggml_type = int(r.unpack("<I", f"tensor {name!r} type"))
        offset = int(r.unpack("<Q", f"tensor {name!r} offset"))
        if offset % alignment:
            raise MalformedError(f"tensor {name!r} offset {offset} is not aligned to {alignment}", r.at(r.pos))
        infos.append((offset, _tensor_bytes(ggml_type, elements, name, r), name))
    data_start = -(-r.pos // alignment) * alignment
    for offset, nbytes, name in infos:
        if data_start + offset + nbytes > r.size:
            raise MalformedError(f"tensor {name!r} data at offset {offset} ({nbytes} bytes) runs past the end "
                                 "of the file", _loc(r.name, f"tensor {name}"))


def _tensor_bytes(ggml_type: int, elements: int, name: str, r: _Reader) -> int:
    """Bytes a tensor occupies, for the ggml types whose block layout is fixed; 0 when unknown."""
    layout = _GGML_BLOCKS.get(ggml_type)
    if layout is None:
        return 0  # a newer quantization: only the offset is checked
    block, size = layout
    if elements % block:
        raise MalformedError(f"tensor {name!r} has {elements} elements, not a multiple of its block of {block}",
                             _loc(r.name, f"tensor {name}"))
    return elements // block * size
