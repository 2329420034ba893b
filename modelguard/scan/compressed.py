"""Single compressed files: gzip, bzip2, xz, lz4 frame, zstd and raw zlib (joblib's and pandas' compressors).

The stream is decompressed once, under the context's ratio and total-expansion limits,
into a spool that goes back to ``ctx.nested`` (a pickle, a tar, another compressed layer).
A truncated or corrupt stream is a finding, and the part that did decompress is still
scanned: a loader unpickling it has already run every opcode before the damage. A stream that
expands past the ratio limit is scanned up to the limit, and the rest is decompressed without
being stored to tell padding (MG-S207) from more content (MG-S003).

Must not: decompress into memory without bound, or call ``gzip.open``/``joblib.load``.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from typing import Any

from modelguard.models import Finding, Format
from modelguard.report.rules import finding
from modelguard.scan.base import Outcome, ScanContext, Source
from modelguard.scan.streams import (
    Decompressor,
    WindowSource,
    beyond_findings,
    bounded,
    chunks,
    scan_nested,
    spool,
    zlib_decompressor,
)

_GZIP_MAGIC = b"\x1f\x8b"


def _gzip() -> Decompressor:
    """A gzip decompressor that, like ``gzip.GzipFile``, reads concatenated members."""
    state = [zlib.decompressobj(31)]

    def next_member() -> bool:
        d = state[0]
        return d.eof and d.unused_data.startswith(_GZIP_MAGIC)

    def feed(data: bytes, n: int) -> bytes:
        d = state[0]
        if next_member():
            rest = d.unused_data + data
            state[0] = d = zlib.decompressobj(31)
            return d.decompress(rest, n)
        return d.decompress(d.unconsumed_tail + data, n)

    return Decompressor(feed, eof=lambda: state[0].eof and not next_member(),
                        unused=lambda: state[0].unused_data,
                        pending=lambda: bool(state[0].unconsumed_tail) or next_member())


def _bz2() -> Decompressor:
    d = bz2.BZ2Decompressor()
    return Decompressor(lambda data, n: d.decompress(data, n), eof=lambda: d.eof, unused=lambda: d.unused_data,
                        pending=lambda: not d.needs_input and not d.eof)


def _xz() -> Decompressor:
    d = lzma.LZMADecompressor(lzma.FORMAT_AUTO)
    return Decompressor(lambda data, n: d.decompress(data, n), eof=lambda: d.eof, unused=lambda: d.unused_data,
                        pending=lambda: not d.needs_input and not d.eof)


def _lz4() -> Decompressor:
    import lz4.frame

    d = lz4.frame.LZ4FrameDecompressor()

    def feed(data: bytes, n: int) -> bytes:
        out: bytes = d.decompress(data, max_length=n)
        return out

    return Decompressor(feed, eof=lambda: bool(d.eof), unused=lambda: bytes(d.unused_data or b""),
                        pending=lambda: not d.needs_input and not d.eof)


_DECOMPRESSORS: dict[Format, Callable[[], Decompressor]] = {
    Format.GZIP: _gzip,
    Format.BZIP2: _bz2,
    Format.XZ: _xz,
    Format.LZ4: _lz4,
    Format.ZLIB: lambda: zlib_decompressor(15),
    Format.ZSTD: lambda: _zstd().decompressor(),
}


def _zstd() -> Any:
    from modelguard.scan import zstd

    return zstd


JOBLIB_ZFILE_HEADER = 21
"""joblib < 0.10 (numpy_pickle_compat): b"ZF" + hex(length).ljust(19), then a zlib stream"""


def _format(head: bytes) -> Format:
    if head.startswith(_GZIP_MAGIC):
        return Format.GZIP
    if head.startswith(b"BZh"):
        return Format.BZIP2
    if head.startswith(b"\xfd7zXZ\x00") or head[:1] == b"\x5d":
        return Format.XZ  # FORMAT_AUTO also reads raw .lzma streams
    if head.startswith(b"\x04\x22\x4d\x18"):
        return Format.LZ4
    if head.startswith(b"\x28\xb5\x2f\xfd") or (head[1:4] == b"\x2a\x4d\x18" and head[:1] and head[0] & 0xF0 == 0x50):
        return Format.ZSTD
    return Format.ZLIB


def scan(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    fmt = _format(head)
    findings: list[Finding] = []
    inner = f"{source.name}!<{fmt.value} content>"
    start = 0
    if head.startswith(b"ZF0x"):  # one more space under Python 2 with joblib <= 0.8.4, which joblib skips
        start = JOBLIB_ZFILE_HEADER + (head[JOBLIB_ZFILE_HEADER:JOBLIB_ZFILE_HEADER + 1] == b" ")
    with bounded(source) as f:
        f.seek(start)
        # lz4 raises RuntimeError for corrupt frames; the others raise their own error types.
        result = spool(ctx, chunks(f), _DECOMPRESSORS[fmt](), compressed_size=source.size - start, name=inner,
                       errors=(zlib.error, OSError, EOFError, lzma.LZMAError, RuntimeError, ValueError,
                               *(_zstd().errors() if fmt is Format.ZSTD else ())),
                       want_crc=False)
    try:
        findings += beyond_findings(result, f"the {fmt.value} stream", source.name, ctx.limits.max_ratio)
        if result.error:
            findings.append(finding("MG-S001", f"{fmt.value} stream is corrupt: {result.error}", location=source.name))
        elif not result.complete and result.beyond is None:
            findings.append(finding("MG-S001", f"{fmt.value} stream is truncated", location=source.name))
        if result.trailing and result.beyond is None:
            consumed = start + result.stream_end
            extra = source.size - consumed
            findings.append(finding("MG-S206", f"{extra} bytes after the end of the {fmt.value} stream",
                                    location=source.name))
            scan_nested(ctx, WindowSource(source, consumed, extra, f"{source.name}!<{extra} bytes after the stream>"),
                        findings)
        if result.source.size:  # an empty payload holds nothing a loader could run
            scan_nested(ctx, result.source, findings)
    finally:
        result.source.close()
    return Outcome(fmt.value, findings)
