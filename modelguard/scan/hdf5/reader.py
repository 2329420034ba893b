"""The HDF5 superblock and object headers, read by address with every read bounded.

Owns :class:`Hdf5File`: finds the superblock (at 0 or behind a user block at 512, 1024, 2048 ...
bytes, as the library searches), reads versions 0-3, and decodes object headers of version 1
(8-byte aligned messages, continuation blocks without signature) and version 2 (``OHDR`` /
``OCHK``, optional times and attribute phase-change fields, creation-order fields). Addresses are
relative to the base address; every read is checked against the file size and charged to a
byte budget, and every chain (continuations) against a count, so a crafted file ends in
:class:`Hdf5Error` or :class:`Unsupported`, never in a loop or an unbounded read.

Knows nothing about what messages mean (see :mod:`~modelguard.scan.hdf5.messages`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from modelguard.scan.streams import read_at

SIGNATURE = b"\x89HDF\r\n\x1a\n"
MSG_CONTINUATION = 0x10
MAX_MESSAGES = 100_000
"""messages in one object header, continuation blocks included"""
MAX_BLOCKS = 10_000
"""continuation blocks of one object header"""


class Hdf5Error(Exception):
    """The file does not parse as HDF5 where it claims to (becomes MG-S510)."""


class Unsupported(Exception):
    """A structure this reader does not decode, where it matters (becomes MG-S514)."""


@dataclass(frozen=True)
class Message:
    type: int
    flags: int
    data: bytes
    at: int
    """absolute file offset of the message data (for locations)"""

    @property
    def shared(self) -> bool:
        return bool(self.flags & 0x02)


class Hdf5File:
    """An HDF5 file's superblock and object headers."""

    def __init__(self, f: BinaryIO, size: int, *, budget: int) -> None:
        self.f = f
        self.size = size
        self.budget = budget
        self.read_bytes = 0
        self.superblock_at = self._find_superblock()
        self._parse_superblock()
        self._headers: dict[int, list[Message]] = {}

    # ---- raw reads ------------------------------------------------------------------------------
    def absolute(self, address: int) -> int:
        return self.base + address

    def read(self, address: int, n: int) -> bytes:
        """``n`` bytes at ``address`` (relative to the base address)."""
        if self.undefined(address):
            raise Hdf5Error("a structure points at the undefined address")
        start = self.base + address
        if n < 0 or start < 0 or start + n > self.size:
            raise Hdf5Error(f"a structure of {n} bytes at offset {start} runs past the end of the file")
        self.read_bytes += n
        if self.read_bytes > self.budget:
            raise Unsupported(f"more than {self.budget} bytes of HDF5 structure")
        return read_at(self.f, start, n)

    def undefined(self, address: int) -> bool:
        return address == (1 << (8 * self.offset_size)) - 1

    def uint(self, data: bytes, pos: int, n: int) -> int:
        if pos + n > len(data):
            raise Hdf5Error("a message is shorter than its fields")
        return int.from_bytes(data[pos:pos + n], "little")

    # ---- superblock ---------------------------------------------------------------------------------
    def _find_superblock(self) -> int:
        at = 0
        while at + len(SIGNATURE) <= self.size:
            if read_at(self.f, at, len(SIGNATURE)) == SIGNATURE:
                return at
            at = 512 if at == 0 else at * 2
        raise Hdf5Error("no HDF5 superblock signature")

    def _parse_superblock(self) -> None:
        head = read_at(self.f, self.superblock_at, 128)
        if len(head) < 24:
            raise Hdf5Error("superblock truncated")
        self.version = head[8]
        if self.version in (0, 1):
            self.offset_size, self.length_size = head[13], head[14]
            pos = 24 + (4 if self.version == 1 else 0)
        elif self.version in (2, 3):
            self.offset_size, self.length_size = head[9], head[10]
            pos = 12
        else:
            raise Unsupported(f"superblock version {self.version}")
        if self.offset_size not in (2, 4, 8) or self.length_size not in (2, 4, 8):
            raise Hdf5Error(f"superblock has offset size {self.offset_size}, length size {self.length_size}")
        o = self.offset_size
        if len(head) < pos + 6 * o:
            raise Hdf5Error("superblock truncated")
        fields = [int.from_bytes(head[pos + i * o:pos + (i + 1) * o], "little") for i in range(4)]
        # Addresses are relative to the base address, which the library takes to be wherever it found
        # the superblock (whatever the stored field says; H5F__super_read adjusts it the same way).
        self.base = self.superblock_at
        if self.version in (0, 1):
            self.extension = -1
            entry = pos + 4 * o  # root group symbol table entry: name offset, header address, ...
            self.root = int.from_bytes(head[entry + o:entry + 2 * o], "little")
        else:
            self.extension = fields[1]
            self.root = fields[3]
        if self.undefined(self.root):
            raise Hdf5Error("the superblock has no root group")

    # ---- object headers ------------------------------------------------------------------------------
    def object_header(self, address: int) -> list[Message]:
        """Every message of the object header at ``address``, continuation blocks included."""
        cached = self._headers.get(address)
        if cached is not None:
            return cached
        first = self.read(address, 4)
        messages = self._header_v2(address) if first == b"OHDR" else self._header_v1(address)
        self._headers[address] = messages
        return messages

    def _header_v1(self, address: int) -> list[Message]:
        head = self.read(address, 16)
        if head[0] != 1:
            raise Hdf5Error(f"object header at {self.absolute(address)} has version {head[0]}")
        count, size = struct.unpack_from("<H", head, 2)[0], struct.unpack_from("<I", head, 8)[0]
        blocks = [(address + 16, size)]
        out: list[Message] = []
        while blocks:
            if len(blocks) + len(out) > MAX_MESSAGES:
                raise Unsupported("object header with too many messages")
            start, length = blocks.pop(0)
            data = self.read(start, length)
            pos = 0
            while pos + 8 <= len(data):
                mtype, msize, flags = struct.unpack_from("<HHB", data, pos)
                body = data[pos + 8:pos + 8 + msize]
                if len(body) < msize:
                    raise Hdf5Error(f"object header message at {self.absolute(start + pos)} runs past its block")
                out.append(Message(mtype, flags, body, self.absolute(start + pos + 8)))
                if mtype == MSG_CONTINUATION:
                    blocks.append(self._continuation(body))
                pos += 8 + ((msize + 7) & ~7)
            if len(out) > MAX_MESSAGES or len(blocks) > MAX_BLOCKS:
                raise Unsupported("object header with too many messages")
        del count  # writers disagree on whether NIL padding counts; the blocks are the truth
        return out

    def _header_v2(self, address: int) -> list[Message]:
        head = self.read(address, 6)
        version, flags = head[4], head[5]
        if version != 2:
            raise Hdf5Error(f"object header at {self.absolute(address)} has version {version}")
        pos = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 0x03)
        size = int.from_bytes(self.read(address + pos, width), "little")
        blocks = [(address + pos + width, size, False)]
        tracked = bool(flags & 0x04)
        out: list[Message] = []
        seen = 0
        while blocks:
            seen += 1
            if seen > MAX_BLOCKS:
                raise Unsupported("object header with too many continuation blocks")
            start, length, is_continuation = blocks.pop(0)
            data = self.read(start, length)
            pos = 4 if is_continuation else 0
            if is_continuation and data[:4] != b"OCHK":
                raise Hdf5Error(f"object header continuation at {self.absolute(start)} has no OCHK signature")
            end = len(data) - (4 if is_continuation else 0)  # the checksum closes a continuation block
            header = 4 + (2 if tracked else 0)
            while pos + header <= end:
                mtype, msize, mflags = data[pos], struct.unpack_from("<H", data, pos + 1)[0], data[pos + 3]
                body_at = pos + header
                body = data[body_at:body_at + msize]
                if len(body) < msize or body_at + msize > end:
                    raise Hdf5Error(f"object header message at {self.absolute(start + pos)} runs past its block")
                out.append(Message(mtype, mflags, body, self.absolute(start + body_at)))
                if mtype == MSG_CONTINUATION:
                    c_start, c_len = self._continuation(body)
                    blocks.append((c_start, c_len, True))
                pos = body_at + msize
                if len(out) > MAX_MESSAGES:
                    raise Unsupported("object header with too many messages")
        return out

    def _continuation(self, body: bytes) -> tuple[int, int]:
        o, n = self.offset_size, self.length_size
        return self.uint(body, 0, o), self.uint(body, o, n)
