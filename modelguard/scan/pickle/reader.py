"""A bounded, buffered reader over a pickle stream, and the opcode table.

Owns byte-level access for the pickle analyser: reading opcode arguments, lines and
length-prefixed payloads from a seekable file without ever holding a large argument in
memory (big payloads are skipped by seeking). Knows nothing about what opcodes mean.
"""

from __future__ import annotations

import os
import struct
from typing import Any, BinaryIO

from modelguard.scan.base import MalformedError, ScanLimitError
from modelguard.scan.streams import read_at

CHUNK = 1 << 16
FIRST_CHUNK = 1 << 12
"""the first read is small (most pickles in a model file are a few KB: torch's records, configs)
and each refill doubles up to CHUNK"""
KEEP = 1 << 20
"""payloads and lines longer than this are skipped, not read (they become opaque values)"""


class Truncated(MalformedError):
    """The stream ended inside an opcode."""


class Reader:
    """Reads a pickle stream from ``f`` starting at absolute ``start``.

    ``budget`` bounds the bytes read from the file (payloads skipped by seeking do not count,
    read-ahead does); exceeding it raises :class:`ScanLimitError`.
    """

    def __init__(self, f: BinaryIO, start: int, budget: int, location: str, end: int | None = None) -> None:
        self.f = f
        self.location = location
        self.size = f.seek(0, os.SEEK_END)
        if end is not None:
            self.size = min(self.size, end)
        self.base = start  # every read names its offset (read_at): no seek to start needed
        self.buf = b""
        self.i = 0
        self.budget = budget
        self.consumed = 0
        self.chunk = FIRST_CHUNK

    @property
    def pos(self) -> int:
        return self.base + self.i

    @property
    def remaining(self) -> int:
        return self.size - self.pos

    def _charge(self, n: int) -> None:
        self.consumed += n
        if self.consumed > self.budget:
            raise ScanLimitError(f"pickle stream longer than {self.budget} bytes", f"{self.location}@offset {self.pos}")

    def _fill(self, n: int) -> bool:
        """Make ``n`` bytes available from ``i``; False at end of stream. Charges what it reads."""
        avail = len(self.buf) - self.i
        if avail >= n:
            return True
        self.base += self.i
        want = min(max(n - avail, self.chunk), max(self.size - self.base - avail, 0))
        more = read_at(self.f, self.base + avail, want)
        self.chunk = min(self.chunk * 2, CHUNK)
        self._charge(len(more))
        self.buf = self.buf[self.i:] + more
        self.i = 0
        return len(self.buf) >= n

    def at_end(self) -> bool:
        return not self._fill(1)

    def peek_byte(self) -> int | None:
        return self.buf[self.i] if self._fill(1) else None

    def peek_byte_or_zero(self) -> int:
        """The next byte without consuming it; 0 at end of stream (as joblib reads a missing byte)."""
        byte = self.peek_byte()
        return 0 if byte is None else byte

    def next_byte(self) -> int | None:
        """The next byte (an opcode), or None at end of stream."""
        i = self.i
        if i >= len(self.buf) and not self._fill(1):
            return None
        b = self.buf[self.i]
        self.i += 1
        return b

    def read(self, n: int) -> bytes:
        i = self.i
        if i + n > len(self.buf):
            if not self._fill(n):
                raise Truncated(f"pickle truncated at offset {self.pos} (needs {n} more bytes)")
            i = self.i
        self.i = i + n
        return self.buf[i:i + n]

    def unpack(self, st: struct.Struct) -> Any:
        """The fixed-size argument ``st`` decodes at the current position (one call per opcode argument)."""
        i = self.i
        j = i + st.size
        if j > len(self.buf):
            if not self._fill(st.size):
                raise Truncated(f"pickle truncated at offset {self.pos} (needs {st.size} more bytes)")
            i = self.i
            j = i + st.size
        self.i = j
        return st.unpack_from(self.buf, i)[0]

    def seek(self, pos: int) -> None:
        """Go back (or forward) to absolute ``pos``."""
        self.base, self.buf, self.i = pos, b"", 0

    def skip(self, n: int) -> None:
        """Skip ``n`` bytes without reading them (tensor and array payloads)."""
        if n < 0 or n > self.remaining:
            raise Truncated(f"pickle truncated at offset {self.pos} (a {n}-byte payload runs past the end)")
        if self.i + n <= len(self.buf):
            self.i += n
            return
        self.base = self.pos + n
        self.buf = b""
        self.i = 0

    def payload(self, n: int) -> bytes | None:
        """A length-prefixed argument: its bytes, or None (skipped) when longer than KEEP."""
        if n > KEEP:
            self.skip(n)
            return None
        return self.read(n)

    def readline(self) -> bytes | None:
        """One line without its newline; None when longer than KEEP (then skipped)."""
        start = self.i
        searched = 0
        while True:
            nl = self.buf.find(b"\n", start + searched)
            if nl >= 0:
                line = self.buf[start:nl]
                self.i = nl + 1
                return line
            searched = len(self.buf) - start
            if searched > KEEP:
                self._skip_long_line()
                return None
            if not self._fill(searched + 1):
                raise Truncated(f"pickle truncated at offset {self.pos + searched} (line without newline)")
            start = self.i

    def _skip_long_line(self) -> None:
        while True:
            nl = self.buf.find(b"\n", self.i)
            if nl >= 0:
                self.i = nl + 1
                return
            self.i = len(self.buf)
            if not self._fill(1):
                raise Truncated(f"pickle truncated at offset {self.pos} (line without newline)")


# Opcode bytes, named as in pickletools. Kept here so the machine reads like the spec.
OPS: dict[int, str] = {ord(k): v for k, v in {
    "(": "MARK", ".": "STOP", "0": "POP", "1": "POP_MARK", "2": "DUP", "F": "FLOAT", "I": "INT",
    "J": "BININT", "K": "BININT1", "L": "LONG", "M": "BININT2", "N": "NONE", "P": "PERSID",
    "Q": "BINPERSID", "R": "REDUCE", "S": "STRING", "T": "BINSTRING", "U": "SHORT_BINSTRING",
    "V": "UNICODE", "X": "BINUNICODE", "a": "APPEND", "b": "BUILD", "c": "GLOBAL", "d": "DICT",
    "}": "EMPTY_DICT", "e": "APPENDS", "g": "GET", "h": "BINGET", "i": "INST", "j": "LONG_BINGET",
    "l": "LIST", "]": "EMPTY_LIST", "o": "OBJ", "p": "PUT", "q": "BINPUT", "r": "LONG_BINPUT",
    "s": "SETITEM", "t": "TUPLE", ")": "EMPTY_TUPLE", "u": "SETITEMS", "G": "BINFLOAT",
    "\x80": "PROTO", "\x81": "NEWOBJ", "\x82": "EXT1", "\x83": "EXT2", "\x84": "EXT4",
    "\x85": "TUPLE1", "\x86": "TUPLE2", "\x87": "TUPLE3", "\x88": "NEWTRUE", "\x89": "NEWFALSE",
    "\x8a": "LONG1", "\x8b": "LONG4", "B": "BINBYTES", "C": "SHORT_BINBYTES",
    "\x8c": "SHORT_BINUNICODE", "\x8d": "BINUNICODE8", "\x8e": "BINBYTES8", "\x8f": "EMPTY_SET",
    "\x90": "ADDITEMS", "\x91": "FROZENSET", "\x92": "NEWOBJ_EX", "\x93": "STACK_GLOBAL",
    "\x94": "MEMOIZE", "\x95": "FRAME", "\x96": "BYTEARRAY8", "\x97": "NEXT_BUFFER",
    "\x98": "READONLY_BUFFER",
}.items()}

HIGHEST_PROTOCOL = 5
