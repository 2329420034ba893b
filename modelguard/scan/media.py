"""Media files in model repositories: images, example audio and PDFs. No model loader opens them.

Owns the scanners for images (PNG, JPEG, GIF, WebP, BMP, TIFF: logos and figures in model
cards), example audio (WAV, FLAC, Ogg, MP3 with an ID3 tag: ASR repositories) and PDF. Each
is walked to its real end by its own framing; a file whose framing is broken is unscannable
(MG-S001), and bytes after the end of an image (but TIFF), a WAV or a PDF are reported
(MG-S206) and scanned by content, as they could hide a second payload.

Checks framing only (chunk, segment and block headers), never decodes pixels or samples.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan.base import MalformedError, Outcome, ScanContext, ScanLimitError, Source
from modelguard.scan.dataformats import MAX_WALK, read_exact
from modelguard.scan.streams import WindowSource, bounded, scan_nested


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
    for _ in range(MAX_WALK):
        f.seek(pos)
        header = read_exact(f, 8, "a PNG chunk header", source.name)
        length, kind = int.from_bytes(header[:4], "big"), header[4:]
        if not kind.isalpha():
            raise MalformedError(f"PNG chunk at offset {pos} has an invalid type {kind!r}", source.name)
        pos += 12 + length
        if pos > source.size:
            raise MalformedError(f"PNG chunk {kind.decode()} at offset {pos - 12 - length} runs past the end",
                                 source.name)
        if kind == b"IEND":
            return pos
    raise ScanLimitError(f"more than {MAX_WALK} PNG chunks", source.name)


def _jpeg_end(data: bytes, where: str) -> int:
    """Offset after the end-of-image marker: marker segments are walked by their lengths, and
    entropy-coded data after a start-of-scan up to the next marker (inside it 0xFF is always
    followed by 0x00 or a restart marker)."""
    pos = 2
    for _ in range(MAX_WALK):
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
    raise ScanLimitError(f"more than {MAX_WALK} JPEG segments", where)


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
    for _ in range(MAX_WALK):
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
    raise ScanLimitError(f"more than {MAX_WALK} GIF blocks", where)


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
    for _ in range(MAX_WALK):
        f.seek(pos)
        header = read_exact(f, 4, "a FLAC metadata block header", source.name)
        pos += 4 + int.from_bytes(header[1:4], "big")
        if pos > source.size:
            raise MalformedError("FLAC metadata block runs past the end", source.name)
        if header[0] & 0x80:  # last metadata block; audio frames follow
            return
    raise ScanLimitError(f"more than {MAX_WALK} FLAC metadata blocks", source.name)


def _ogg_pages(f: BinaryIO, source: Source) -> None:
    pos = 0
    for _ in range(MAX_WALK):
        if pos == source.size:
            return
        f.seek(pos)
        header = read_exact(f, 27, "an Ogg page header", source.name)
        if header[:4] != b"OggS":
            raise MalformedError(f"Ogg page expected at offset {pos}", source.name)
        segments = read_exact(f, header[26], "an Ogg segment table", source.name)
        pos += 27 + len(segments) + sum(segments)
        if pos > source.size:
            raise MalformedError("Ogg page runs past the end", source.name)
    raise ScanLimitError(f"more than {MAX_WALK} Ogg pages", source.name)


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
