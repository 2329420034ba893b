"""Decide a file's format from its content: magic bytes and structure, never the extension.

The exceptions are Python source and Jinja templates: transformers imports custom code by
*file name* (``auto_map`` names ``modeling_x.py``) and renders ``chat_template.jinja`` by name,
so for those the name is what the loader uses.

Pure: looks only at the bytes it is given.
"""

from __future__ import annotations

import struct

from modelguard.models import Format
from modelguard.scan.recognise import structured_format

HEAD_BYTES = 4096
"""How much of the start of a file detection looks at."""

TAIL_BYTES = 65_536 + 22
"""How much of the end: a zip's end-of-central-directory record plus its longest comment."""

# torch.save legacy format: pickle of the magic number 0x1950a86a20f9469cfc6c (protocol 2, LONG1)
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."

_HDF5 = b"\x89HDF\r\n\x1a\n"
_ZIP_LOCAL = b"PK\x03\x04"
_ZIP_EMPTY = b"PK\x05\x06"
_ZIP_EOCD = b"PK\x05\x06"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _is_zlib(head: bytes) -> bool:
    if len(head) < 2:
        return False
    cmf, flg = head[0], head[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf * 256 + flg) % 31 == 0 and not flg & 0x20


def _is_lzma_alone(head: bytes) -> bool:
    """A raw .lzma ("LZMA alone") stream as joblib's "lzma" compressor and xz --format=lzma write
    it: the usual properties byte (lc=3, lp=0, pb=2), a dictionary size of 2^n or 2^n + 2^(n-1),
    and the uncompressed size: "unknown" (eight 0xff bytes) or a value below 2^48 (joblib 0.10
    and older wrote the size)."""
    if head[:2] == b"\x5d\x00" and head[13:14] == b"\0":
        # joblib's own test for its "lzma" compressor (it decompresses whatever follows, any
        # dictionary size), plus the zero byte every LZMA range-coded stream starts with, which
        # a safetensors file whose 93-byte header starts "5d 00" never has there (JSON text).
        return True
    if head[:1] != b"\x5d" or len(head) < 13:
        return False
    (dict_size,) = struct.unpack("<I", head[1:5])
    low = dict_size & -dict_size if dict_size else 0
    canonical = dict_size >= 4096 and dict_size in (low, low * 3)
    return canonical and (head[5:13] == b"\xff" * 8 or head[11:13] == b"\0\0")


def _is_joblib_zfile(head: bytes) -> bool:
    """joblib < 0.10 compressed files: ``ZF``, the hex length padded to 19 bytes, zlib data
    (joblib <= 0.8.4 under Python 2 padded to 20: joblib skips one space there too)."""
    return head.startswith(b"ZF0x") and (_is_zlib(head[21:23]) or (head[21:22] == b" " and _is_zlib(head[22:24])))


def _is_tar(head: bytes) -> bool:
    if len(head) < 512:
        return False
    if head[257:262] == b"ustar":
        return True
    # v7 tar: no magic, but the header checksum (bytes 148..156, octal) must match.
    try:
        stored = int(head[148:156].replace(b"\0", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    computed = sum(head[:148]) + 8 * 32 + sum(head[156:512])
    return stored == computed and head[0] != 0


def _is_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    # The header is a JSON object: "{", then its first key's quote or its end (whitespace allowed).
    # One "{" alone is every 256th raw tensor dump (natasha's slovnet weights), not safetensors.
    if n < 2 or head[8:9] != b"{":
        return False
    after = head[9:9 + min(n - 1, 64)].lstrip(b" \t\r\n")[:1]
    if after not in (b'"', b"}", b""):
        return False
    # A claimed header longer than the file is still "safetensors that is broken", so the
    # safetensors scanner reports it rather than "unknown format".
    # (JSON text whose ninth byte is "{", e.g. '{"data":{', is not a length: its bytes are text.)
    return n <= size - 8 or not _looks_like_text(head[:8])


def detect(head: bytes, tail: bytes, size: int, name: str) -> Format:
    """The format of a file whose first bytes are ``head`` and last bytes ``tail``.

    Returns a provisional format for containers: a zip is refined into pytorch-zip,
    npz, keras or torchscript by the zip scanner, and a pickle into joblib by the
    pickle scanner. Text that is not Python or JSON may still be a protocol-0 pickle:
    the engine probes it.
    """
    if size == 0:
        return Format.EMPTY
    if head.startswith(TORCH_LEGACY_MAGIC):
        return Format.PYTORCH_LEGACY
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        # A pickle with a zip after it is a polyglot (torch.load runs the pickle, zip readers
        # see the archive): the zip scanner analyses both, and falls back to the pickle
        # scanner when the end-record signature in the tail is a coincidence. Likewise a tar
        # whose first header is also a pickle: torch.load tries tar first.
        if _ZIP_EOCD in tail:
            return Format.ZIP
        return Format.TAR if _is_tar(head) else Format.PICKLE
    if head.startswith(_ZIP_LOCAL) or head.startswith(_ZIP_EMPTY):
        return Format.ZIP
    if head.startswith(b"\x93NUMPY"):
        return Format.NUMPY
    if head.startswith(b"\x1f\x8b"):
        return Format.GZIP
    if head.startswith(b"BZh") and len(head) > 3 and head[3:4] in b"123456789":
        return Format.BZIP2
    if head.startswith(b"\xfd7zXZ\x00") or _is_lzma_alone(head):
        return Format.XZ
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return Format.SEVENZ
    if head.startswith(b"\x04\x22\x4d\x18"):
        return Format.LZ4
    if head.startswith(b"\x28\xb5\x2f\xfd") or (head[1:4] == b"\x2a\x4d\x18" and head[0] & 0xF0 == 0x50):
        return Format.ZSTD  # a zstd frame, or a skippable frame in front of one
    if head.startswith(b"GGUF"):
        return Format.GGUF
    if head.startswith(_HDF5):
        return Format.HDF5  # behind a user block: MATLAB v7.3 (recognise.py) or unknown.py finds it
    if _is_safetensors(head, size):
        return Format.SAFETENSORS
    if _is_tar(head):
        return Format.TAR
    if _is_zlib(head) or _is_joblib_zfile(head):
        return Format.ZLIB
    if head.startswith(_OLE2):
        # An Office compound file (.xls, .doc, .msg): no model loader reads one. Excel keeps a
        # zip (its theme) inside the workbook, sometimes near the end; the unknown-binary scanner
        # scans it as a zip instead of calling the file a zip polyglot.
        return Format.UNKNOWN
    if head[4:8] == b"TFL3" and _ZIP_EOCD in tail:
        # TFLite with its metadata's associated files appended as a zip (tflite-support's writer):
        # the TFLite scanner checks the flatbuffer and scans the zip's members.
        return Format.TFLITE
    # A zip with something in front of it (a polyglot: torch.load runs the prefix pickle,
    # the zip reader finds the archive from the end).
    if _ZIP_EOCD in tail:
        return Format.ZIP
    if name.endswith(".py"):
        return Format.PYTHON
    if name.endswith(".jinja") and _looks_like_text(head):
        # transformers and vLLM render chat_template.jinja by name, like code.
        return Format.JINJA
    if head[128:132] == b"DICM":
        return Format.UNKNOWN  # DICOM, whatever its preamble holds: see _data_format
    # After the names a loader runs as code: a GIF/Python polyglot named modeling_x.py is Python.
    found = structured_format(head, tail, size, name, text=_looks_like_text(head)) or _data_format(head)
    if found is not None:
        return found
    if _looks_like_onnx(head):
        return Format.ONNX
    if name.endswith((".onnx_data", ".onnx.data")) and not _looks_like_text(head):
        # Raw tensor bytes an .onnx file names in external_data; the runtime maps them, never parses them.
        return Format.ONNX_DATA
    if _looks_like_text(head):
        return Format.JSON if _looks_like_json(head) else Format.TEXT
    return Format.UNKNOWN


def _looks_like_json(head: bytes) -> bool:
    """An object whose first key is a string, or an array whose first item is a JSON value:
    BERT's ``vocab.txt`` starts with ``[PAD]`` on its own line and a Jinja template with
    ``{%``; both are text, not broken JSON files."""
    stripped = head.lstrip()
    if stripped[:1] not in (b"{", b"["):
        return False
    first = stripped[1:].lstrip()
    if stripped[:1] == b"{":
        return not first or first[:1] in b'"}'
    return not first or first[:1] in b'{["-0123456789]' or first.startswith((b"true", b"false", b"null"))


_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\0", b"MM\0*")


def _data_format(head: bytes) -> Format | None:
    """Formats whose loaders only decode data (:mod:`modelguard.scan.dataformats`, :mod:`~modelguard.scan.media`).

    DICOM (a 128-byte preamble, then "DICM") is tested before this, by :func:`detect`: applications
    may fill the preamble, and dual-format files put a TIFF header there (pydicom's ``zipMR``). No
    model loader reads DICOM, so the unknown scanner searches it for anything loadable instead of
    the image scanner failing on a TIFF that is not one."""
    if head.startswith(_IMAGE_MAGIC) or (head.startswith(b"RIFF") and head[8:12] == b"WEBP"):
        return Format.IMAGE
    if head.startswith(b"BM") and head[6:10] == b"\0\0\0\0" and len(head) >= 14:
        return Format.IMAGE
    if head.startswith((b"fLaC", b"OggS", b"ID3")) or (head.startswith(b"RIFF") and head[8:12] == b"WAVE"):
        return Format.AUDIO
    if head.startswith(b"%PDF-"):
        return Format.PDF
    if head[4:8] == b"TFL3":
        return Format.TFLITE
    if _looks_like_sentencepiece(head):
        return Format.SENTENCEPIECE
    # msgpack map with str or bin keys (flax_model.msgpack, msgpack-numpy); a fixmap of 0 entries would be 0x80.
    if len(head) > 1 and (0x81 <= head[0] <= 0x8F or head[0] in (0xDE, 0xDF)):
        at = 1 if head[0] <= 0x8F else 3 if head[0] == 0xDE else 5
        key = head[at] if len(head) > at else 0
        if (0xA0 <= key <= 0xBF and _text_key(head[at + 1:at + 1 + (key & 0x1F)])) \
                or key in (0xD9, 0xDA, 0xDB, 0xC4, 0xC5, 0xC6):  # a str key that is text, or a bin key
            return Format.MSGPACK
    return None


def _text_key(data: bytes) -> bool:
    """A map key is text (UTF-8, no control characters): the random bytes after a Brotli stream's
    ``82 bb`` or ``82 a4`` (lingua's ``.json.br`` models) are not."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def _looks_like_sentencepiece(head: bytes) -> bool:
    """ModelProto field 1 (a piece) whose own first field is 1 (the piece string), the string
    inside the piece and followed by the piece's score (field 2, fixed32), its type (field 3) or
    the piece's end. Three newlines at the start of a Latin-1 text file (music21's MuseData
    ``03.md``) have the first two bytes but not the lengths."""
    if head[:1] != b"\x0a":
        return False
    piece_len, i = _varint(head, 1)
    if head[i:i + 1] != b"\x0a":
        return False
    text_len, j = _varint(head, i + 1)
    piece_end, text_end = i + piece_len, j + text_len
    if piece_len < 2 or text_len < 1 or text_end > piece_end:
        return False
    return text_end == piece_end or text_end >= len(head) or head[text_end] in (0x15, 0x18)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it) of the varint at ``pos``, at most five bytes; (-1, pos) when none is there."""
    value = 0
    for k in range(5):
        if pos + k >= len(data):
            return -1, pos
        value |= (data[pos + k] & 0x7F) << (7 * k)
        if not data[pos + k] & 0x80:
            return value, pos + k + 1
    return -1, pos


def _looks_like_text(head: bytes) -> bool:
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        # A multi-byte character cut at the end of the head is still text.
        return e.start >= len(head) - 3
    return True


def _looks_like_onnx(head: bytes) -> bool:
    """ModelProto starts with ir_version (field 1, varint) then a known field."""
    if len(head) < 4 or head[0] != 0x08:
        return False
    i = 1
    while i < len(head) and head[i] & 0x80:
        i += 1
    i += 1
    # producer_name (2), producer_version (3), domain (4), model_version (5), doc (6),
    # graph (7), opset_import (8), metadata_props (14), training_info (20), functions (25)
    # (the last two are the first bytes of the two-byte tags of fields 20 and 25)
    return i < len(head) and head[i] in (0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72, 0xA2, 0xCA)
