"""Recognise the structured data formats that have weak or no magic, for :mod:`modelguard.scan.detect`.

Owns the content tests for: protobuf messages (ONNX tensors, TensorFlow SavedModel and GraphDef,
CoreML models, mediapipe graphs, SentencePiece; see :mod:`modelguard.scan.protobuf`), TensorFlow
checkpoint index tables (LevelDB footer magic) and data shards (by their ``.data-NNNNN-of-NNNNN``
name, like ONNX external data: raw bytes the runtime reads at offsets), CoreML weight blobs,
MATLAB ``.mat`` files (v4, v5, v7.3), word2vec and fastText binaries and SentencePiece
normaliser rule files. Each test is structural enough that a random binary does not pass it;
the format's scanner then checks the whole file and reports what does not follow the format.

Pure: looks only at the head, tail, size and name it is given.
"""

from __future__ import annotations

import re
import struct

from modelguard.models import Format
from modelguard.scan import protobuf

LEVELDB_MAGIC = struct.pack("<Q", 0xDB4775248B80FB57)
"""the last 8 bytes of a LevelDB table, which TensorFlow's tensor bundle index (variables.index) is"""
FASTTEXT_MAGIC = struct.pack("<i", 793712314)
COREML_BLOB_SENTINEL = struct.pack("<I", 0xDEADBEEF)
_TF_DATA_NAME = re.compile(r"\.data-\d{5}-of-\d{5}$")
_WORD2VEC_HEADER = re.compile(rb"^\s*(\d{1,10})[ \t]+(\d{1,6})[ \t]*\r?\n")
_MAT_V5 = re.compile(rb"^MATLAB [57]\.\d MAT-file")


def structured_format(head: bytes, tail: bytes, size: int, name: str, *, text: bool) -> Format | None:
    """The format of a file these tests recognise, or None. ``text``: the head decodes as text."""
    if _TF_DATA_NAME.search(name) and not text:
        return Format.TF_CHECKPOINT_DATA
    if size >= 48 and tail.endswith(LEVELDB_MAGIC):
        return Format.TF_CHECKPOINT_INDEX
    if len(head) >= 68 and head[4:8] == b"\x02\x00\x00\x00" and head[64:68] == COREML_BLOB_SENTINEL:
        return Format.COREML_WEIGHTS
    if _MAT_V5.match(head) and len(head) >= 128 and head[126:128] in (b"IM", b"MI"):
        return Format.MATLAB
    if head.startswith(FASTTEXT_MAGIC) or looks_like_fasttext_v0(head):
        return Format.FASTTEXT
    if not text and _WORD2VEC_HEADER.match(head):
        return Format.WORD2VEC
    if looks_like_spm_normalizer(head, tail, size):
        return Format.SPM_NORMALIZER
    found = protobuf.identify(head, size)
    if found is not None:
        return found
    if looks_like_mat_v4(head, size):
        return Format.MATLAB
    return None


def looks_like_fasttext_v0(head: bytes) -> bool:
    """fastText files before the magic number (2016): the args block alone, every field in range.

    dim, ws, epoch, minCount, neg, wordNgrams, loss (1..4), model (1..3), bucket, minn, maxn,
    lrUpdateRate as int32, then t as a double in (0, 1]."""
    if len(head) < 56:
        return False
    dim, ws, epoch, min_count, neg, ngrams, loss, model, bucket, minn, maxn, lr_update = struct.unpack(
        "<12i", head[:48])
    (t,) = struct.unpack("<d", head[48:56])
    return bool(0 < dim <= 10_000 and 0 < ws <= 1000 and 0 < epoch <= 10_000 and 0 <= min_count and 0 <= neg <= 1000
            and 0 < ngrams <= 10 and 1 <= loss <= 4 and 1 <= model <= 3 and 0 <= bucket <= 1 << 30
            and 0 <= minn <= maxn <= 100 and 0 < lr_update <= 1 << 20 and 0.0 < t <= 1.0)


def looks_like_spm_normalizer(head: bytes, tail: bytes, size: int) -> bool:
    """SentencePiece's compiled normalisation rules (``nfkc.bin``): a uint32 trie size, the
    Darts double-array (4-byte units, so the size is a multiple of 4), then NUL-terminated
    replacement strings filling the rest of the file."""
    if len(head) < 8:
        return False
    (trie,) = struct.unpack("<I", head[:4])
    if not (1024 <= trie and trie % 4 == 0 and 4 + trie < size and size - 4 - trie < trie
            and head[4:8] != b"\0" * 4 and tail.endswith(b"\0")):
        return False
    # The replacement strings (all of them, or as many as the tail holds): short NUL-ended UTF-8.
    strings = tail[-min(len(tail), size - 4 - trie):]
    cut = 0
    while cut < 3 and cut < len(strings) and strings[cut] & 0xC0 == 0x80:
        cut += 1  # the tail may begin inside a character
    try:
        strings[cut:].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return max((len(piece) for piece in strings.split(b"\0")), default=0) <= 256


# MATLAB v4: each matrix starts with a 20-byte header: type MOPT (M machine 0..4, O 0, P
# precision 0..5, T 0..2), rows, columns, imaginary flag, name length (name included, NUL ended).
def looks_like_mat_v4(head: bytes, size: int) -> bool:
    if len(head) < 20:
        return False
    for order in ("<", ">"):
        mopt, rows, cols, imag, namelen = struct.unpack(f"{order}5i", head[:20])
        m, o, p, t = mopt // 1000, mopt // 100 % 10, mopt // 10 % 10, mopt % 10
        if not (0 <= mopt < 5000 and o == 0 and p <= 5 and t <= 2 and (m == 0) == (order == "<")):
            continue
        if not (0 <= rows and 0 <= cols and imag in (0, 1) and 1 < namelen <= 64 and 20 + namelen <= len(head)):
            continue
        name = head[20:20 + namelen]
        if name[-1:] == b"\0" and re.fullmatch(rb"[A-Za-z_][A-Za-z0-9_]*", name[:-1]):
            return True
    return False
