"""Binary files no recogniser claims: tell an inert unknown from one that hides something.

Owns the verdict on bytes of no known format (the engine sends every such file and archive
member here). Real repositories ship many formats no model loader runs code from (MeCab
dictionaries, CRFsuite models, DICOM images, IDL save files, raw tensor dumps); failing on each
would train users to ignore the scanner. So an unknown binary is split by what it holds:

* it parses as a pickle from its first byte: the engine already scanned it as one;
* it holds a *complete* pickle at some offset that imports or calls something, a zip/7z/xz
  archive header that cannot be delimited (a zip from local header to end record is scanned as
  a zip, and its findings count), or the name of a TensorFlow op that calls back into Python or touches files
  (as a NodeDef writes it: a graph no recogniser claimed): something may
  read that part as code, so the file fails closed (MG-S002), with the embedded pickle's own
  findings (an ``os.system`` import stays malicious wherever it sits);
* an HDF5 superblock after a user block (at 512, 1024, ... bytes, where h5py looks): an HDF5
  file, scanned by structure like any (:mod:`modelguard.scan.hdf5`);
* otherwise no loader modelguard knows reads it as code: MG-S005, informational, listed in
  every report but not failing it. ``[policy] unknown-formats = "fail"`` (or ``--fail-on info``)
  makes it fail (:func:`escalate`).

Must not: guess a format from the file name, load or unpickle anything. The search reads the
whole file once through a memory map (or the bytes already in memory).
"""

from __future__ import annotations

import dataclasses
import heapq
import io
import mmap
import pickletools
import re
import struct
import warnings
from collections.abc import Iterable, Iterator
from typing import IO, cast

from modelguard.models import Finding, Severity
from modelguard.report.rules import finding
from modelguard.scan.base import BytesSource, FileSource, Outcome, ScanContext, Source
from modelguard.scan.protobuf import Buffer

INERT_RULE = "MG-S005"
"""the informational finding an inert unknown binary gets; :func:`escalate` makes it fail"""

_PROBE_OPS = 12
"""opcodes a candidate must walk cleanly before the full analyser looks at it"""
_MAX_EMBEDDED = 16
_TRUNCATED_OPS = 8
"""opcodes walked before the data ran out, for a file to count as a truncated pickle"""
_PICKLE_LIMIT = 4 << 20
"""bytes of one embedded pickle analysed (a pickle that imports does so in its first bytes)"""

# A pickle starts with PROTO 2..5, or (protocols 0/1) with a GLOBAL line "cmodule\nname\n".
# (Two patterns searched separately: one regex with both alternatives runs ten times slower.)
_PROTO = re.compile(rb"\x80[\x02-\x05]")
_GLOBAL_LINES = re.compile(rb"c[A-Za-z_][A-Za-z0-9_.]{0,127}\n[A-Za-z_][A-Za-z0-9_.]{0,127}\n")
# Archives a loader (or a person) could unpack: zip local header (then a plausible "version
# needed" byte), 7z and xz signatures; found with bytes.find, which runs at memory speed.
_ARCHIVES = (b"PK\x03\x04", b"7z\xbc\xaf\x27\x1c", b"\xfd7zXZ\x00")
# TensorFlow ops that run a Python function registered in the loading process, as a NodeDef
# writes them (field 2, length, name): a graph our protobuf recognisers did not claim.
_TF_PYTHON_OPS = re.compile(rb"\x12(?:\x06PyFunc|\x0ePyFuncStateless|\x0bEagerPyFunc)")
# ... and the ones that read, write or list files (tensorflow.FILE_OPS).
_TF_FILE_OPS = re.compile(rb"\x12(?:\x08ReadFile|\x09WriteFile|\x0dMatchingFiles)")


def scan(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """Findings for an unrecognised binary: MG-S001 for a broken pickle, MG-S002 with what it
    hides, else informational MG-S005."""
    broken = _broken_pickle(ctx, source)
    if broken is not None:
        return Outcome("unknown", [broken])
    if _hdf5_after_user_block(source):
        # h5py finds a superblock at 512, 1024, 2048 ... bytes (a user block before it), and Keras'
        # load_model opens what h5py opens: the HDF5 scanner looks for the model config.
        from modelguard.scan.hdf5.scanner import scan as scan_hdf5

        return scan_hdf5(ctx, source, head)
    with _buffer(source) as buf:
        hidden = _hidden(ctx, source, buf)
    if hidden:
        return Outcome("unknown", hidden)
    return Outcome("unknown", [finding(
        INERT_RULE, "format not recognised from its content; it holds no pickle, archive or TensorFlow "
        "code/file op, so no loader modelguard knows runs code from it", location=source.name)])


def escalate(findings: Iterable[Finding]) -> list[Finding]:
    """``findings`` with every inert-unknown finding raised to medium: for teams whose policy
    says every file must be understood (``unknown-formats = "fail"``)."""
    return [dataclasses.replace(f, severity=Severity.MEDIUM) if f.rule == INERT_RULE and f.severity is Severity.INFO
            else f for f in findings]


class _buffer:
    """The source's bytes as a buffer, never read whole into memory when they live in a file: a
    read-only map of the file (a window of it for archive members and gaps; the temp file of a
    decompressed stream once it spilled to disk), else the bytes already in memory."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self._file: io.BufferedReader | None = None
        self._map: mmap.mmap | None = None
        self._view: memoryview | None = None

    def __enter__(self) -> Buffer:
        src = self.source
        if isinstance(src, BytesSource):
            return src.data
        located = _backing_file(src)
        if located is not None and src.size:
            where, offset = located
            try:
                if isinstance(where, str):
                    self._file = open(where, "rb")  # closed in __exit__
                    where = self._file.fileno()
                self._map = mmap.mmap(where, 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                self._map = None
            else:
                if offset == 0 and src.size == len(self._map):
                    return self._map
                self._view = memoryview(self._map)[offset:offset + src.size]
                return self._view
        with src.open() as f:  # small in-memory spools
            return f.read()

    def __exit__(self, *exc: object) -> None:
        if self._view is not None:
            self._view.release()
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:  # a match object still refers to it: the collector closes it
                pass
        if self._file is not None:
            self._file.close()


def _backing_file(src: Source) -> tuple[str | int, int] | None:
    """(path or open descriptor, offset) of the file that holds ``src``'s bytes, when one does."""
    from modelguard.scan.streams import SpoolSource, WindowSource

    offset = 0
    while isinstance(src, WindowSource):
        offset += src.offset
        src = src.parent
    if isinstance(src, FileSource):
        return src.path, offset
    if isinstance(src, SpoolSource):
        fd = src.fileno()
        return None if fd is None else (fd, offset)
    return None


_HDF5 = b"\x89HDF\r\n\x1a\n"


def _hdf5_after_user_block(source: Source) -> bool:
    offset = 512
    with source.open() as f:
        while offset + 8 <= source.size:
            f.seek(offset)
            if f.read(8) == _HDF5:
                return True
            offset *= 2
    return False


def _broken_pickle(ctx: ScanContext, source: Source) -> Finding | None:
    """MG-S001 when the file starts as a pickle and breaks: a PROTO opcode of a protocol this
    Python does not read, or valid opcodes up to the end of the data (a truncated pickle). The
    engine's probe has already shown that ``pickle.load`` would not get through it."""
    from modelguard.scan.base import MalformedError, ScanLimitError
    from modelguard.scan.pickle.collector import Collector
    from modelguard.scan.pickle.reader import Reader, Truncated
    from modelguard.scan.pickle.scanner import PROBE_BYTES
    from modelguard.scan.pickle.vm import Machine

    with source.open() as f:
        reader = Reader(f, 0, PROBE_BYTES, source.name)
        col = Collector(ScanContext(limits=ctx.limits), source.name)
        try:
            Machine(col, reader, joblib=False).run()
        except Truncated as e:
            # Only after a run of opcodes: one opcode whose argument runs off the end ("TRACK" reads
            # as a BINSTRING of a billion bytes) says nothing about a file being a pickle.
            if col.ops >= _TRUNCATED_OPS:
                return finding("MG-S001", f"a pickle that ends before its STOP: {e}", location=source.name)
        except MalformedError as e:
            if head_is_proto(source):
                return finding("MG-S001", f"starts as a pickle but does not parse: {e}", location=source.name)
        except ScanLimitError:  # pragma: no cover - the engine's probe calls such a stream a pickle
            return None
    return None


def head_is_proto(source: Source) -> bool:
    """The first opcode is PROTO: a pickle, of a protocol this Python does not read."""
    return source.read_head(1) == b"\x80"


def _hidden(ctx: ScanContext, source: Source, buf: Buffer) -> list[Finding]:
    out: list[Finding] = []
    for offset, analysis_findings, imports in _embedded_pickles(ctx, source, buf):
        what = ", ".join(imports[:3]) + (" ..." if len(imports) > 3 else "") if imports else "calls only"
        out.append(finding("MG-S002", f"format not recognised from its content, and it holds a pickle at offset "
                                      f"{offset} ({what}) that a loader could unpickle",
                           location=f"{source.name}@offset {offset}"))
        out.extend(analysis_findings)
    out.extend(_embedded_archives(ctx, source, buf))
    for op, what in ((tf_python_op(buf), "calls Python"), (tf_file_op(buf), "reads or writes files")):
        if op is not None:
            out.append(finding("MG-S002", f"format not recognised from its content, and it names the TensorFlow op "
                                          f"{op[0]} ({what}) at offset {op[1]}",
                               location=f"{source.name}@offset {op[1]}"))
    return out


def tf_python_op(buf: Buffer) -> tuple[str, int] | None:
    """(op name, offset) of the first TensorFlow op that calls Python, written as a NodeDef's op field."""
    m = _TF_PYTHON_OPS.search(buf)
    return None if m is None else (bytes(m.group()[2:]).decode(), m.start())


def tf_file_op(buf: Buffer) -> tuple[str, int] | None:
    """(op name, offset) of the first TensorFlow file I/O op written as a NodeDef's op field."""
    m = _TF_FILE_OPS.search(buf)
    return None if m is None else (bytes(m.group()[2:]).decode(), m.start())


def _embedded_archives(ctx: ScanContext, source: Source, buf: Buffer) -> list[Finding]:
    """A zip that runs from a local header to its end record is scanned like any zip (Excel keeps
    its theme as one inside a workbook); an archive header that cannot be delimited that way, or
    a 7z/xz signature, is MG-S002: something may unpack it, and modelguard did not."""
    from modelguard.scan.streams import WindowSource, scan_nested

    out: list[Finding] = []
    pos, scanned = 0, 0
    while (start := _next_archive(buf, pos)) >= 0:
        end = _zip_end(buf, start) if buf[start:start + 2] == b"PK" else None
        if end is None or scanned >= _MAX_EMBEDDED:
            out.append(finding("MG-S002", f"format not recognised from its content, and it holds an archive header "
                                          f"at offset {start} that was not scanned",
                               location=f"{source.name}@offset {start}"))
            return out
        scanned += 1
        inner = WindowSource(source, start, end - start, f"{source.name}!<zip at offset {start}>")
        scan_nested(ctx, inner, out)
        pos = end
    return out


_NEEDLES: dict[bytes, re.Pattern[bytes]] = {}


def _find(buf: Buffer, needle: bytes, pos: int, end: int | None = None) -> int:
    """``buf.find(needle, pos, end)`` for every buffer, memoryviews of a mapped file included."""
    if not isinstance(buf, memoryview | bytearray):
        return buf.find(needle, pos, len(buf) if end is None else end)
    rx = _NEEDLES.get(needle)
    if rx is None:
        rx = _NEEDLES[needle] = re.compile(re.escape(needle))
    m = rx.search(buf, pos, len(buf) if end is None else end)
    return -1 if m is None else m.start()


def _next_archive(buf: Buffer, pos: int) -> int:
    """Offset of the first archive signature at or after ``pos``, or -1."""
    hits: list[int] = []
    for sig in _ARCHIVES:
        at = _find(buf, sig, pos)
        while sig == _ARCHIVES[0] and at >= 0 and not _plausible_local_header(buf, at):
            at = _find(buf, sig, at + 1)
        if at >= 0:
            hits.append(at)
    return min(hits, default=-1)


def _plausible_local_header(buf: Buffer, at: int) -> bool:
    """A zip local header's "version needed" is 1.0 to 6.3 (its high byte 0)."""
    return at + 6 <= len(buf) and 0x0A <= buf[at + 4] <= 0x3F and buf[at + 5] == 0


def _zip_end(buf: Buffer, start: int) -> int | None:
    """End of the zip whose first local header is at ``start``: just after the first end record
    (signature, fixed part and comment) that follows it and lies inside the buffer."""
    eocd = _find(buf, b"PK\x05\x06", start)
    if eocd < 0 or eocd + 22 > len(buf):
        return None
    comment = int.from_bytes(buf[eocd + 20:eocd + 22], "little")
    end = eocd + 22 + comment
    return end if end <= len(buf) else None


def _embedded_pickles(ctx: ScanContext, source: Source,
                      buf: Buffer) -> Iterator[tuple[int, list[Finding], list[str]]]:
    """(offset, findings, imports) of each complete pickle inside ``buf`` that imports or calls."""
    with warnings.catch_warnings():
        # pickletools decodes STRING arguments with codecs.escape_decode, which warns on odd escapes
        warnings.simplefilter("ignore", DeprecationWarning)
        yield from _walk_candidates(ctx, source, buf)


def _walk_candidates(ctx: ScanContext, source: Source,
                     buf: Buffer) -> Iterator[tuple[int, list[Finding], list[str]]]:
    from modelguard.scan.pickle.vm import analyze_stream

    found = 0
    starts = heapq.merge((m.start() for m in _PROTO.finditer(buf)), (m.start() for m in _GLOBAL_LINES.finditer(buf)))
    for start in starts:
        if start == 0 or not _walks(buf, start):
            continue  # offset 0: the engine's pickle probe has already read it as pickle.load would
        with io.BytesIO(buf[start:start + _PICKLE_LIMIT]) as f:
            analysis = analyze_stream(ctx, f, location=f"{source.name}@offset {start}", single=True,
                                      limit=_PICKLE_LIMIT)
        if not (analysis.complete and analysis.stops and (analysis.globals or analysis.calls)):
            continue
        imports = [f"{mod}.{name}" for mod, name in analysis.globals]
        yield start, [x for x in analysis.findings if x.rule not in ("MG-S001", "MG-S003")], imports
        found += 1
        if found >= _MAX_EMBEDDED:
            return


class _View:
    """A read-only file over ``buf`` from ``start``, for pickletools: reads copy only what is asked."""

    def __init__(self, buf: Buffer, start: int) -> None:
        self.buf = buf
        self.pos = start
        self.end = min(len(buf), start + 65_536)

    def read(self, n: int = -1) -> bytes:
        stop = self.end if n < 0 else min(self.end, self.pos + n)
        data = bytes(self.buf[self.pos:stop])
        self.pos = stop
        return data

    def readline(self) -> bytes:
        nl = _find(self.buf, b"\n", self.pos, self.end)
        return self.read(-1 if nl < 0 else nl + 1 - self.pos)

    def tell(self) -> int:
        return self.pos


def _walks(buf: Buffer, start: int) -> bool:
    """Whether the bytes at ``start`` read as pickle opcodes for a while (cheap pre-filter:
    random data fails within an opcode or two, a real pickle walks on or stops)."""
    try:
        view = cast(IO[bytes], _View(buf, start))  # read, readline and tell are all genops uses
        for n, (op, _, _) in enumerate(pickletools.genops(view)):
            if op.name == "STOP" or n >= _PROBE_OPS:
                return True
    except (ValueError, EOFError, UnicodeDecodeError, OverflowError, struct.error):
        return False
    return False

