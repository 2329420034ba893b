"""Byte sources for container members: windows over an outer file and bounded spools.

Container scanners hand members to ``ctx.nested(...)`` as :class:`Source` objects. A stored
member is a :class:`WindowSource` (an offset window over the outer file, nothing copied); a
compressed member is decompressed once by :func:`spool` into a SpooledTemporaryFile under the
context's expansion budget and ratio limit, then exposed as a :class:`SpoolSource`. Small
structure scattered between tensors is read with :func:`read_at`: on a file, one ``pread`` of
exactly those bytes, so no buffer reads ahead into tensor data.

Must not: read a whole member into memory unless it is small, or decompress without charging
every produced byte to ``ctx.charge_expansion``.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Callable, Iterator
from typing import IO, BinaryIO

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan.base import FileSource, Outcome, ScanContext, ScanLimitError, Source

CHUNK = 1 << 20
"""read size for streaming copies and decompression"""

WINDOW_BUFFER = 8 << 10
"""buffer of a window reader: small, because a seek and a few-byte read (a zip local header, a
legacy storage's element count) fills the whole buffer, and tensor bytes must not be read"""

SPOOL_IN_MEMORY = 16 << 20
"""decompressed members up to this size stay in memory; larger ones go to a temp file"""


class _Window(io.RawIOBase):
    """A read-only, seekable view of ``length`` bytes at ``offset`` in ``raw``."""

    def __init__(self, raw: IO[bytes], offset: int, length: int, *, owns: bool) -> None:
        super().__init__()
        self._raw = raw
        self._offset = offset
        self._length = length
        self._pos = 0
        self._owns = owns

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self._length - self._pos)
        if want <= 0:
            return 0
        self._raw.seek(self._offset + self._pos)
        data = self._raw.read(want)
        n = len(data)
        memoryview(buffer)[:n] = data
        self._pos += n
        return n

    def close(self) -> None:
        if self._owns and not self.closed:
            self._raw.close()
        super().close()


class _ClampedReader(io.BufferedReader):
    """A buffered window whose ``read(n)`` never asks for more than what is left.

    ``BufferedReader.read(n)`` allocates ``n`` bytes up front, so a parser that reads a
    claimed length (tarfile's pax headers, a 50 GB size field) would die of MemoryError.
    """

    def __init__(self, raw: io.RawIOBase, size: int) -> None:
        super().__init__(raw, WINDOW_BUFFER)
        self._size = size

    def read(self, size: int | None = -1) -> bytes:
        left = max(0, self._size - self.tell())
        if size is None or size < 0 or size > left:
            size = left
        return super().read(size)


def read_at(f: BinaryIO, offset: int, n: int) -> bytes:
    """``n`` bytes at ``offset`` of ``f`` (fewer at the end), for structure scattered between
    tensors (a zip local header, a legacy storage's element count). A whole file is read with
    ``pread``: exactly these bytes, without a buffer's read-ahead into the tensor data after them."""
    raw = getattr(f, "raw", None)
    if isinstance(raw, io.FileIO):
        return os.pread(raw.fileno(), n, offset)
    f.seek(offset)
    return f.read(n)


def bounded(source: Source) -> BinaryIO:
    """``source`` opened through a clamped window (for parsers that read claimed sizes)."""
    return WindowSource(source, 0, source.size, source.name).open()


class WindowSource(Source):
    """``length`` bytes at ``offset`` of ``parent``, read lazily (stored members, prefixes)."""

    def __init__(self, parent: Source, offset: int, length: int, name: str) -> None:
        self.parent = parent
        self.offset = offset
        self.size = max(0, min(length, parent.size - offset))
        self.name = name

    def open(self) -> BinaryIO:
        parent = self.parent
        if self.offset == 0 and isinstance(parent, FileSource) and self.size == parent.size:
            # A whole file: the OS file is the window (no Python layer under every read and seek).
            return _ClampedReader(io.FileIO(parent.path), self.size)
        return _ClampedReader(_Window(parent.open(), self.offset, self.size, owns=True), self.size)


class SpoolSource(Source):
    """Bytes decompressed into a spooled temp file; :meth:`close` releases it."""

    def __init__(self, spooled: IO[bytes], size: int, name: str) -> None:
        self._spooled = spooled
        self.size = size
        self.name = name

    def open(self) -> BinaryIO:
        return _ClampedReader(_Window(self._spooled, 0, self.size, owns=False), self.size)

    def close(self) -> None:
        self._spooled.close()

    def fileno(self) -> int | None:
        """The temp file's descriptor once the spool has spilled to disk (to map it), else None
        (asking an in-memory spool for one would write it to disk)."""
        if not getattr(self._spooled, "_rolled", True):
            return None
        try:
            return self._spooled.fileno()
        except (AttributeError, io.UnsupportedOperation, OSError, ValueError):
            return None


class Decompressor:
    """The subset of zlib/bz2/lzma/lz4 decompressor objects :func:`spool` needs."""

    def __init__(self, feed: Callable[[bytes, int], bytes], *, eof: Callable[[], bool],
                 unused: Callable[[], bytes], pending: Callable[[], bool]) -> None:
        self.feed = feed
        """feed(data, max_length) -> up to max_length output bytes; call with b"" to drain"""
        self.eof = eof
        self.unused = unused
        self.pending = pending
        """whether output is waiting without more input"""


def zlib_decompressor(wbits: int) -> Decompressor:
    d = zlib.decompressobj(wbits)

    def feed(data: bytes, max_length: int) -> bytes:
        return d.decompress(d.unconsumed_tail + data, max_length)

    return Decompressor(feed, eof=lambda: d.eof, unused=lambda: d.unused_data,
                        pending=lambda: bool(d.unconsumed_tail))


def chunks(f: BinaryIO, length: int | None = None) -> Iterator[bytes]:
    """Read ``f`` in CHUNK pieces, at most ``length`` bytes in all."""
    left = length
    while left is None or left > 0:
        data = f.read(CHUNK if left is None else min(CHUNK, left))
        if not data:
            return
        if left is not None:
            left -= len(data)
        yield data


class SpoolResult:
    def __init__(self, source: SpoolSource, *, complete: bool, trailing: bytes, crc: int, error: str,
                 stream_end: int, beyond: Beyond | None = None) -> None:
        self.source = source
        self.beyond = beyond
        """what the stream held past the ratio limit (None: it stayed under it); see :func:`spool`"""
        self.stream_end = stream_end
        """input bytes the compressed stream occupied (where trailing data starts)"""
        self.error = error
        """why decompression stopped early ('' if it did not); the output so far is kept,
        because a loader has already acted on it (a pickle runs opcode by opcode)"""
        self.complete = complete
        """the compressed stream reached its end marker (False: truncated)"""
        self.trailing = trailing
        """input left after the end of the compressed stream (first bytes only)"""
        self.crc = crc
        """CRC-32 of the decompressed bytes (0 unless asked for)"""


class Beyond:
    """The output of a stream past its ratio limit: decompressed to learn what it is, never stored.

    ``padding`` bytes of the single value ``byte`` (a gzip padded with zeros to hide a pickle
    behind a ratio guard), then, unless ``exhausted``, the end of the stream. ``exhausted``: the
    stream went on past ``Limits.max_discard_bytes`` or held other bytes, so part of it was not seen.
    """

    def __init__(self, first: int) -> None:
        self.byte = first
        self.padding = 0
        self.exhausted = ""


def _discard(ctx: ScanContext, beyond: Beyond, data: bytes, name: str) -> None:
    """Account for output past the ratio limit: uniform padding is counted, anything else ends it."""
    if beyond.exhausted or not data:
        return
    if data.count(beyond.byte) != len(data):
        beyond.exhausted = "holds more than padding"
        raise _Stop
    beyond.padding += len(data)
    if beyond.padding > ctx.limits.max_discard_bytes:
        beyond.exhausted = f"continues past {ctx.limits.max_discard_bytes} bytes of padding"
        raise _Stop


class _Stop(Exception):
    """Decompression past the ratio limit ends (the rest is not padding, or too long to follow)."""


def spool(ctx: ScanContext, compressed: Iterator[bytes], decompressor: Decompressor, *,
          compressed_size: int, name: str, errors: tuple[type[Exception], ...] = (),
          want_crc: bool = True) -> SpoolResult:
    """Decompress ``compressed`` into a spool, enforcing the ratio and the per-file budget.

    The ratio is checked against bytes actually produced, not the size the header claims. Up to
    ``max_ratio`` times the compressed size is stored (and scanned by the caller); what follows is
    decompressed in a streaming way, without being stored, only to learn whether it is padding
    (one repeated byte, up to ``Limits.max_discard_bytes``) or more content (:class:`Beyond`). So a
    pickle hidden in front of a long run of zeros is still scanned, and the padding is reported.
    """
    limit = max(compressed_size, 1) * ctx.limits.max_ratio
    import tempfile  # here, not at import: it costs a scan of a plain checkpoint ~7 ms of start-up

    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    produced = 0
    crc = 0
    trailing = b""
    error = ""
    read_total = 0
    stream_end = -1
    beyond: Beyond | None = None
    try:
        def emit(data: bytes) -> None:
            nonlocal produced, crc, beyond
            if not data:
                return
            if beyond is not None:
                _discard(ctx, beyond, data, name)
                return
            keep = data[: max(limit - produced, 0)]
            if keep:
                produced += len(keep)
                ctx.charge_expansion(len(keep), name)
                if want_crc:
                    crc = zlib.crc32(keep, crc)
                out.write(keep)
            if len(keep) < len(data):
                beyond = Beyond(data[len(keep)])
                _discard(ctx, beyond, data[len(keep):], name)

        try:
            for block in compressed:
                read_total += len(block)
                if decompressor.eof():
                    trailing += block[: 64 - len(trailing)]
                    continue
                emit(decompressor.feed(block, CHUNK))
                while decompressor.pending() and not decompressor.eof():
                    emit(decompressor.feed(b"", CHUNK))
                if decompressor.eof():
                    stream_end = read_total - len(decompressor.unused())
                    trailing += decompressor.unused()[:64]
            while decompressor.pending() and not decompressor.eof():
                emit(decompressor.feed(b"", CHUNK))
        except _Stop:
            pass
        except errors as e:
            error = str(e) or type(e).__name__
    except BaseException:
        out.close()
        raise
    out.flush()
    return SpoolResult(SpoolSource(out, produced, name),
                       complete=not error and decompressor.eof() and not (beyond and beyond.exhausted),
                       trailing=trailing, crc=crc, error=error,
                       stream_end=read_total if stream_end < 0 else stream_end, beyond=beyond)


def beyond_findings(result: SpoolResult, what: str, location: str, max_ratio: int) -> list[Finding]:
    """The findings for a stream that went past its ratio limit (none when it did not)."""
    beyond = result.beyond
    if beyond is None:
        return []
    stored = result.source.size
    if beyond.exhausted:
        return [finding("MG-S003", f"{what} decompresses to more than {max_ratio}x its compressed size "
                        f"(decompression bomb?) and {beyond.exhausted}; only its first {stored} bytes were scanned",
                        location=location)]
    return [finding("MG-S207", f"{what} holds {beyond.padding} bytes of padding (0x{beyond.byte:02x} repeated) "
                    f"after its first {stored} bytes, past {max_ratio}x its compressed size; the padding was "
                    "decompressed without being stored, and the content before it was scanned", location=location)]


def scan_nested(ctx: ScanContext, source: Source, findings: list[Finding]) -> Outcome | None:
    """``ctx.nested(source)``, its findings appended; a depth limit becomes a finding here so
    the container's other findings survive (the engine would otherwise replace them)."""
    try:
        outcome = ctx.nested(source)
    except ScanLimitError as e:
        findings.append(finding("MG-S003", str(e), location=e.location or source.name))
        return None
    findings.extend(outcome.findings)
    return outcome


def budget_spent(ctx: ScanContext) -> bool:
    return ctx.expanded_bytes > ctx.limits.max_expanded_bytes


def unsafe_member_name(name: str) -> bool:
    """Whether extracting a member called ``name`` could write outside the target folder."""
    n = name.replace("\\", "/")
    return n.startswith("/") or (len(n) > 1 and n[1] == ":") or ".." in n.split("/")
