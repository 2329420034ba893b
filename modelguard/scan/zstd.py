"""Zstandard frames as a :class:`~modelguard.scan.streams.Decompressor` with bounded output.

pandas writes ``to_pickle(path, compression="zstd")`` (and ``.zst`` files in general) as one or
more zstd frames, possibly with skippable frames between them; ``zstandard.open`` and pandas read
every frame. The decoder is a maintained binding of the reference C library, with one API:
``compression.zstd`` from the standard library on Python >= 3.14 (PEP 784), else its backport
``backports.zstd`` (same code, same API; py7zr already requires it, so it adds nothing to an
install). Hand-decoding zstd's entropy stages would be a parser differential waiting to happen.

Bounded output: ``ZstdDecompressor.decompress(data, max_length)`` returns at most ``max_length``
bytes and keeps the rest of its input (``needs_input`` is false until it is drained), so no call
expands more than the caller asked for before the ratio and budget checks of
:func:`~modelguard.scan.streams.spool` see it.

Must not decompress without those bounds, or open files itself.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from modelguard.scan.streams import Decompressor

MAGIC = b"\x28\xb5\x2f\xfd"


def is_frame_start(data: bytes) -> bool:
    """A zstd frame or a skippable frame (magic 0x184D2A50..5F, little-endian) starts here."""
    return data.startswith(MAGIC) or (len(data) >= 4 and data[1:4] == b"\x2a\x4d\x18" and data[0] & 0xF0 == 0x50)


def _module() -> Any:
    return importlib.import_module("compression.zstd" if sys.version_info >= (3, 14) else "backports.zstd")


def errors() -> tuple[type[Exception], ...]:
    """The exceptions the decoder raises on corrupt input."""
    return (_module().ZstdError, ValueError, EOFError)


class _Frames:
    """Decode concatenated frames from fed input, returning at most ``n`` bytes per call."""

    def __init__(self) -> None:
        self.frame = _module().ZstdDecompressor()
        self.input = b""
        """input not yet handed to the current frame's decompressor"""
        self.rest = b""
        """input after the last frame that does not start another one (trailing data)"""
        self.done = False

    def feed(self, data: bytes, n: int) -> bytes:
        self.input += data
        out = b""
        while len(out) < n and not self.done:
            if self.frame.eof:
                tail = bytes(self.frame.unused_data) + self.input
                if not tail:
                    break
                if not is_frame_start(tail):
                    self.rest, self.input, self.done = tail, b"", True
                    break
                self.frame, self.input = _module().ZstdDecompressor(), tail
            if self.frame.needs_input:
                if not self.input:
                    break
                piece, self.input = self.input, b""
            else:
                piece = b""
            got = self.frame.decompress(piece, n - len(out))
            if not got and not piece and not self.frame.eof:
                break  # defensive: a drained decoder that made no progress
            out += got
        return out

    def eof(self) -> bool:
        return bool(self.frame.eof) and not self.input and (self.done or not self.frame.unused_data)

    def pending(self) -> bool:
        if self.done:
            return False
        if self.frame.eof:
            return bool(self.frame.unused_data) or bool(self.input)
        return not self.frame.needs_input or bool(self.input)


def decompressor() -> Decompressor:
    frames = _Frames()
    return Decompressor(frames.feed, eof=frames.eof, unused=lambda: frames.rest, pending=frames.pending)
