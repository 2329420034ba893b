"""PyTorch's pre-zip formats: the legacy stream (``_use_new_zipfile_serialization=False``)
and the older tar layout.

Legacy stream, as ``torch.serialization._legacy_load`` reads it: five pickles in a row
(magic number, protocol version, sys info, the object, the list of storage keys), then for
each key an 8-byte little-endian element count and the raw storage bytes. Every pickle is
analysed; the storages are walked by seeking, their element size taken from the storage
type in the object's persistent ids, and never read. Bytes after the last storage are
reported and scanned by content (a zip glued after a legacy file is a polyglot).

Tar layout (``legacy_load``): members ``storages`` (count pickle, then per storage an args
pickle and raw bytes, then a views pickle), ``tensors`` (count pickle, then per tensor an
args pickle and fixed binary fields) and ``pickle`` (the object). All their pickles run on
load, so all are analysed.

Must not: unpickle, import torch, or read tensor bytes.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from modelguard.models import Finding, Format
from modelguard.report.rules import finding
from modelguard.scan.base import MalformedError, Outcome, ScanContext, Source
from modelguard.scan.streams import WindowSource, bounded, read_at, scan_nested

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

_ELEMENT_SIZE = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
    "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
    "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8, "QUInt8Storage": 1, "QInt8Storage": 1,
    "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1, "UntypedStorage": 1,
    "Float8_e5m2Storage": 1, "Float8_e4m3fnStorage": 1,
}
_STORAGE_MODULES = ("torch", "torch.cuda", "torch.storage")  # torch.storage.UntypedStorage: float8, quantized


def element_size(storage_type: object) -> int | None:
    """Bytes per element of a pickled storage class reference (``torch.FloatStorage``)."""
    module, name = getattr(storage_type, "module", None), getattr(storage_type, "name", None)
    if module not in _STORAGE_MODULES or not isinstance(name, str):
        return None
    return _ELEMENT_SIZE.get(name)


class _Pickles:
    """Runs the pickle analyser one pickle at a time, collecting its findings."""

    def __init__(self, ctx: ScanContext, findings: list[Finding]) -> None:
        from modelguard.scan.pickle import scanner as pickle_scanner

        self._analyze = pickle_scanner.analyze_stream
        self.ctx = ctx
        self.findings = findings
        self.last_imports: list[tuple[str, str]] = []

    def one(self, f: BinaryIO, offset: int, location: str) -> tuple[object, int, list[object]]:
        """(static value, end offset, persistent ids) of the pickle at ``offset``; its imports
        are kept in :attr:`last_imports`.

        Raises MalformedError when it does not parse: nothing after it can be framed.
        """
        f.seek(offset)
        analysis = self._analyze(self.ctx, f, location=location, offset=offset, single=True)
        self.findings.extend(analysis.findings)
        self.last_imports = list(analysis.globals)
        if not analysis.complete or analysis.end <= offset:
            raise MalformedError(f"{location}: pickle does not parse; the rest of the file cannot be framed",
                                 location)
        return analysis.value, analysis.end, list(analysis.persistent_ids)



def _storage_sizes(persistent_ids: list[object]) -> dict[str, tuple[int, int | None]]:
    """root key -> (element size, element count) from ('storage', type, key, location, numel, view)."""
    sizes: dict[str, tuple[int, int | None]] = {}
    for pid in persistent_ids:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] in ("storage", b"storage")):
            continue
        size = element_size(pid[1])
        if size is None:
            raise MalformedError(f"unknown storage type {pid[1]!r} in a persistent id")
        numel = pid[4] if isinstance(pid[4], int) else None
        sizes[str(pid[2])] = (size, numel)
    return sizes


def _read_count(f: BinaryIO, offset: int, where: str) -> int:
    raw = read_at(f, offset, 8)
    if len(raw) < 8:
        raise MalformedError(f"{where}: file ends inside a storage header", where)
    n: int = struct.unpack("<q", raw)[0]
    if n < 0:
        raise MalformedError(f"{where}: negative storage size {n}", where)
    return n


def scan(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    findings: list[Finding] = []
    pickles = _Pickles(ctx, findings)
    fmt = Format.PYTORCH_LEGACY.value
    try:
        with bounded(source) as f:
            end = _scan_stream(ctx, source, f, pickles)
    except MalformedError as e:
        findings.append(finding("MG-S001", str(e), location=e.location or source.name))
        return Outcome(fmt, findings)
    if end < source.size:
        extra = source.size - end
        findings.append(finding("MG-S206", f"{extra} bytes after the last storage", location=source.name))
        scan_nested(ctx, WindowSource(source, end, extra, f"{source.name}!<{extra} bytes after the storages>"),
                    findings)
    return Outcome(fmt, findings)


def _scan_stream(ctx: ScanContext, source: Source, f: BinaryIO, pickles: _Pickles) -> int:
    """Analyse the five pickles and walk the storages; returns the offset after the last one."""
    at = f"{source.name}@"
    magic, pos, _ = pickles.one(f, 0, at + "magic number")
    if magic != MAGIC_NUMBER:
        raise MalformedError("invalid torch legacy magic number", source.name)
    protocol, pos, _ = pickles.one(f, pos, at + "protocol version")
    if protocol != PROTOCOL_VERSION:
        raise MalformedError(f"torch legacy protocol version is {protocol!r}, not {PROTOCOL_VERSION}", source.name)
    _, pos, _ = pickles.one(f, pos, at + "sys info")
    _, pos, persistent_ids = pickles.one(f, pos, at + f"object@offset {pos}")
    keys, pos, _ = pickles.one(f, pos, at + f"storage keys@offset {pos}")
    if not isinstance(keys, list) or not all(isinstance(k, (str, int)) for k in keys):
        raise MalformedError("storage key list is not a list of keys", at + f"offset {pos}")
    if len(keys) > ctx.limits.max_members:
        raise MalformedError(f"{len(keys)} storages exceed the {ctx.limits.max_members} limit", source.name)
    sizes = _storage_sizes(persistent_ids)
    for key in keys:
        where = f"{source.name}@storage {key}"
        if str(key) not in sizes:
            raise MalformedError(f"storage {key!r} is not referenced by the object", where)
        elsize, numel = sizes[str(key)]
        count = _read_count(f, pos, where)
        if numel is not None and count != numel:
            raise MalformedError(f"storage {key!r} holds {count} elements, its reference says {numel}", where)
        pos += 8 + count * elsize
        if pos > source.size:
            raise MalformedError(f"storage {key!r} runs past the end of the file", where)
    return pos


def scan_tar_layout(ctx: ScanContext, source: Source, members: dict[str, tuple[int, int]],
                    findings: list[Finding]) -> None:
    """Analyse the pickles of a legacy torch tar; ``members`` maps name -> (data offset, size)."""
    pickles = _Pickles(ctx, findings)
    # Each member is framed on its own, so damage in one never hides the pickles of another.
    with bounded(source) as f:
        for name in ("sys_info", "storages", "tensors", "pickle"):
            if name not in members:
                continue
            where = f"{source.name}!{name}"
            start, size = members[name]
            try:
                if name == "storages":
                    _walk_storages(ctx, f, where, start, size, pickles)
                elif name == "tensors":
                    _walk_tensors(ctx, f, where, start, size, pickles)
                else:
                    pickles.one(f, start, where)
            except MalformedError as e:
                findings.append(finding("MG-S001", str(e), location=e.location or where))


def _count_of(value: object, where: str, ctx: ScanContext) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= ctx.limits.max_members:
        raise MalformedError(f"{where}: count {value!r} is not a sane number", where)
    return value


def _walk_storages(ctx: ScanContext, f: BinaryIO, where: str, start: int, size: int, pickles: _Pickles) -> None:
    end = start + size
    value, pos, _ = pickles.one(f, start, where)
    for i in range(_count_of(value, where, ctx)):
        # (key, location, storage type): the type is an import, so the value is not plain
        # data; take it from the one import this small pickle makes.
        _, pos, _ = pickles.one(f, pos, f"{where}@storage {i}")
        imports = pickles.last_imports
        elsize = _ELEMENT_SIZE.get(imports[0][1]) if len(imports) == 1 and imports[0][0] in _STORAGE_MODULES else None
        if elsize is None:
            raise MalformedError(f"{where}: storage {i} does not name one known storage type", where)
        pos += 8 + _read_count(f, pos, where) * elsize
        if pos > end:
            raise MalformedError(f"{where}: storage {i} runs past the end of the member", where)
    _, pos, _ = pickles.one(f, pos, f"{where}@views")


def _walk_tensors(ctx: ScanContext, f: BinaryIO, where: str, start: int, size: int, pickles: _Pickles) -> None:
    end = start + size
    value, pos, _ = pickles.one(f, start, where)
    for i in range(_count_of(value, where, ctx)):
        _, pos, _ = pickles.one(f, pos, f"{where}@tensor {i}")
        f.seek(pos)
        raw = f.read(8)
        if len(raw) < 8:
            raise MalformedError(f"{where}: tensor {i} header is truncated", where)
        (ndim,) = struct.unpack("<i", raw[:4])
        if not 0 <= ndim <= 64:
            raise MalformedError(f"{where}: tensor {i} has {ndim} dimensions", where)
        pos += 8 + 16 * ndim + 8
        if pos > end:
            raise MalformedError(f"{where}: tensor {i} runs past the end of the member", where)
