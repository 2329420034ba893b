"""Word-vector binaries: word2vec ``.bin`` (C tool, gensim ``save_word2vec_format``) and fastText ``.bin``.

Owns the framing checks of both. Their loaders (gensim ``KeyedVectors.load_word2vec_format``,
``load_facebook_model``, fastText's C++ ``loadModel``) read counts, NUL- or space-terminated
words and float arrays; nothing in either format names code. (gensim's *native* ``.model``
files are pickles: they are recognised by content and go to the pickle scanner whatever they
are called.)

word2vec: a text header ``<count> <dim>\\n``, then per word its bytes up to a space and
``dim`` float32s (the C tool adds a newline after each vector). The first
:data:`CHECKED_WORDS` entries are walked; their framing proves the format.

fastText (with the 2016 magic number, or the older layout without it): the args block, the
dictionary (every entry walked), then the input and output matrices, whose sizes must end the
file exactly (a quantised matrix is checked up to its header).

Must not: decode vectors, or read more than the framing needs.
"""

from __future__ import annotations

import re
import struct
from typing import BinaryIO

from modelguard.scan.base import MalformedError, Outcome, ScanContext, ScanLimitError, Source
from modelguard.scan.recognise import FASTTEXT_MAGIC
from modelguard.scan.streams import bounded

CHECKED_WORDS = 100_000
_MAX_WORDS = 100_000_000
_MAX_WORD = 1 << 16
_HEADER = re.compile(rb"^\s*(\d+)[ \t]+(\d+)[ \t]*\r?\n")


class _Reader:
    """Sequential reads through a 1 MiB window, with the absolute position."""

    def __init__(self, f: BinaryIO, where: str, size: int) -> None:
        self.f = f
        self.where = where
        self.size = size
        self.buf = b""
        self.at = 0  # file offset of buf[0]
        self.i = 0

    @property
    def pos(self) -> int:
        return self.at + self.i

    def _fill(self, need: int) -> None:
        if len(self.buf) - self.i >= need:
            return
        self.f.seek(self.pos)
        self.at, self.buf, self.i = self.pos, self.f.read(max(need, 1 << 20)), 0

    def take(self, n: int, what: str) -> bytes:
        self._fill(n)
        data = self.buf[self.i:self.i + n]
        if len(data) != n:
            raise MalformedError(f"file ends inside {what}", self.where)
        self.i += n
        return data

    def skip(self, n: int) -> None:
        if self.pos + n > self.size:
            raise MalformedError(f"file ends inside a vector ({n} bytes at offset {self.pos})", self.where)
        self.at, self.buf, self.i = self.pos + n, b"", 0

    def until(self, stop: bytes, what: str) -> bytes:
        """Bytes up to ``stop`` (consumed, not returned)."""
        while True:
            j = self.buf.find(stop, self.i)
            if j >= 0:
                word = self.buf[self.i:j]
                self.i = j + 1
                return word
            if len(self.buf) - self.i > _MAX_WORD:
                raise MalformedError(f"{what} longer than {_MAX_WORD} bytes at offset {self.pos}", self.where)
            have = len(self.buf) - self.i
            self.f.seek(self.pos)
            more = self.f.read(max(have * 2, 1 << 20))
            if len(more) <= have:
                raise MalformedError(f"file ends inside {what}", self.where)
            self.at, self.buf, self.i = self.pos, more, 0

    def peek(self) -> bytes:
        self._fill(1)
        return self.buf[self.i:self.i + 1]


def scan_word2vec(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    m = _HEADER.match(head)
    if m is None:
        raise MalformedError("word2vec header is not '<count> <dim>'", source.name)
    count, dim = int(m.group(1)), int(m.group(2))
    if not 0 < dim <= 100_000 or count > _MAX_WORDS:
        raise MalformedError(f"word2vec header claims {count} words of {dim} dimensions", source.name)
    with bounded(source) as f:
        r = _Reader(f, source.name, source.size)
        r.take(m.end(), "the header")
        for _ in range(min(count, CHECKED_WORDS)):
            while r.peek() == b"\n":
                r.take(1, "a word")
            r.until(b" ", "a word")
            r.skip(4 * dim)
        if count <= CHECKED_WORDS and source.size - r.pos > 2:
            raise MalformedError(f"{source.size - r.pos} bytes after the last of {count} vectors", source.name)
    return Outcome("word2vec")


def scan_fasttext(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    new = head.startswith(FASTTEXT_MAGIC)
    with bounded(source) as f:
        r = _Reader(f, source.name, source.size)
        r.take(8 + 56 if new else 56, "the args block")  # (magic, version,) 12 int32 and a double
        size, _nwords, _nlabels = struct.unpack("<3i", r.take(12, "the dictionary header"))
        r.take(8, "the dictionary header")  # ntokens
        (pruned,) = struct.unpack("<q", r.take(8, "the dictionary header")) if new else (0,)
        pruned = max(pruned, 0)  # -1: the dictionary was never pruned
        if not 0 <= size <= _MAX_WORDS or pruned > _MAX_WORDS:
            raise ScanLimitError(f"fastText dictionary of {size} words and {pruned} pruned entries", source.name)
        for _ in range(size):
            r.until(b"\0", "a dictionary word")
            r.take(9, "a dictionary entry")  # count int64, type int8
        r.skip(8 * pruned)
        for which in ("input", "output"):
            quantised = new and r.take(1, f"the {which} matrix flag") != b"\0"
            if quantised:
                return Outcome("fasttext")  # product-quantised codes: numbers, checked no further
            rows, cols = struct.unpack("<2q", r.take(16, f"the {which} matrix header"))
            if rows < 0 or cols < 0:
                raise MalformedError(f"{which} matrix of {rows} x {cols}", source.name)
            r.skip(4 * rows * cols)
        if r.pos != source.size:
            raise MalformedError(f"{source.size - r.pos} bytes after the output matrix", source.name)
    return Outcome("fasttext")
