"""Zstandard frames as a :class:`~modelguard.scan.streams.Decompressor` with bounded output.

pandas writes ``to_pickle(path, compression="zstd")`` (and ``.zst`` files in general) as one or
more zstd frames, possibly with skippable frames between them; ``zstandard.open`` and pandas read
every frame. The decoder is a maintained binding: ``compression.zstd`` from the standard library
on Python >= 3.14, else the ``zstandard`` package (the reference C library; hand-decoding zstd's
entropy stages would be a parser differential waiting to happen).

Bounded output: one ``decompress`` call returns all the output of its input (``zstandard``'s
``decompressobj`` has no ``max_length``), so input is fed in pieces of :data:`PIECE` bytes: a zstd
block yields at most 128 KiB from at least four bytes, so one piece can expand to at most
``PIECE * 32 Ki`` bytes (64 MiB) before the ratio and budget checks of
:func:`~modelguard.scan.streams.spool` see it. Both decoders are driven the same way.

Must not decompress without those bounds, or open files itself.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from modelguard.scan.streams import Decompressor

MAGIC = b"\x28\xb5\x2f\xfd"
PIECE = 2048
"""input bytes per call into zstandard's decompressobj (see the module docstring)"""


def is_frame_start(data: bytes) -> bool:
    """A zstd frame or a skippable frame (magic 0x184D2A50..5F, little-endian) starts here."""
    return data.startswith(MAGIC) or (len(data) >= 4 and data[1:4] == b"\x2a\x4d\x18" and data[0] & 0xF0 == 0x50)


def errors() -> tuple[type[Exception], ...]:
    """The exceptions the decoder raises on corrupt input."""
    if sys.version_info >= (3, 14):
        return (importlib.import_module("compression.zstd").ZstdError, ValueError)
    return (importlib.import_module("zstandard").ZstdError, ValueError)


def _new_frame() -> Any:
    if sys.version_info >= (3, 14):
        return importlib.import_module("compression.zstd").ZstdDecompressor()
    return importlib.import_module("zstandard").ZstdDecompressor().decompressobj()


class _Frames:
    """Decode concatenated frames from fed input, returning at most ``n`` bytes per call."""

    def __init__(self) -> None:
        self.frame = _new_frame()
        self.input = b""
        self.output = b""
        self.rest = b""
        """input after the last frame that does not start another one (trailing data)"""
        self.done = False

    def feed(self, data: bytes, n: int) -> bytes:
        self.input += data
        while len(self.output) < n and not self.done:
            if self.frame.eof:
                tail = bytes(self.frame.unused_data) + self.input
                if not tail:
                    break
                if not is_frame_start(tail):
                    self.rest, self.input, self.done = tail, b"", True
                    break
                self.frame, self.input = _new_frame(), tail
            if not self.input:
                break
            piece, self.input = self.input[:PIECE], self.input[PIECE:]
            self.output += self.frame.decompress(piece)
        out, self.output = self.output[:n], self.output[n:]
        return out

    def eof(self) -> bool:
        return bool(self.frame.eof) and not self.output and not self.input and (
            self.done or not self.frame.unused_data)

    def pending(self) -> bool:
        return bool(self.output) or (bool(self.input) and not self.done)


def decompressor() -> Decompressor:
    frames = _Frames()
    return Decompressor(frames.feed, eof=frames.eof, unused=lambda: frames.rest, pending=frames.pending)
