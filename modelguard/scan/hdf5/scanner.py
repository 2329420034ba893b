"""The HDF5 scanner: what loaders of ``.h5`` files (Keras, PyTables/pandas, h5py users) act on.

Walks every object (:mod:`~modelguard.scan.hdf5.objects`) and reports:

* attributes that PyTables unpickles (string values ending in ``.``: ``pandas.read_hdf`` runs
  ``pickle.loads`` on them) through the pickle analyser, with the object path and attribute name;
  benign pandas files carry such attributes (``N.``, lists of column names), and they stay clean;
* PyTables object arrays (a VLArray with ``PSEUDOATOM = "object"``: each row is a pickle that
  ``pandas.read_hdf`` loads), row by row, chunks inflated when deflate/shuffle/fletcher32 compress them;
* Keras model configs (``model_config``, ``training_config`` and any attribute holding one) through
  :func:`~modelguard.scan.keras.analyse_config`; a ``model_config`` that does not parse is MG-S505;
* a dataset whose bytes come from external files (MG-S511: the library reads them from the loading
  machine, relative to its working directory), external and user-defined links (MG-S512), and
  virtual datasets mapping data from another file (MG-S513).

A file that does not parse is MG-S510; a structure this reader does not decode where it matters
(compressed dense storage, the shared message heap, an unknown filter on pickled rows) is MG-S514.
Either way the bytes are also searched for Keras configs, as before structural parsing, so a Lambda
layer in a damaged file is still reported. Must not load, import or unpickle anything.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan import keras
from modelguard.scan.base import BytesSource, Outcome, ScanContext, Source
from modelguard.scan.hdf5 import messages as m
from modelguard.scan.hdf5.heaps import Chunk, chunks_fixed_array, chunks_v1, global_heap_object
from modelguard.scan.hdf5.objects import H5Object, Walker
from modelguard.scan.hdf5.reader import Hdf5Error, Hdf5File, Unsupported
from modelguard.scan.streams import bounded

_KERAS_ATTRIBUTES = ("model_config", "training_config")
_STRUCTURE_BUDGET = 1 << 30
_DEFLATE, _SHUFFLE, _FLETCHER32 = 1, 2, 3


def scan(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    prefix = "" if ctx.depth == 0 else f"{source.name}:"
    findings: list[Finding] = []
    fmt = "hdf5"
    with bounded(source) as f:
        try:
            h5 = Hdf5File(f, source.size, budget=_STRUCTURE_BUDGET)
            fmt = _Scan(ctx, h5, Walker(h5), prefix, findings).run()
        except Hdf5Error as e:
            findings.append(finding("MG-S510", f"HDF5 structure does not parse: {e}", location=f"{prefix}/"))
        except Unsupported as e:
            findings.append(finding("MG-S514", f"HDF5 uses {e}, which modelguard does not read", location=f"{prefix}/"))
        else:
            return Outcome(fmt, findings)
    # A damaged or unusual file: the byte search for Keras configs still applies.
    fallback = keras.scan_hdf5(ctx, source, head)
    findings += [x for x in fallback.findings if x.rule != "MG-S505" or not findings]
    return Outcome(fallback.format, findings)


class _Scan:
    def __init__(self, ctx: ScanContext, h5: Hdf5File, walker: Walker, prefix: str, findings: list[Finding]) -> None:
        self.ctx, self.h5, self.walker, self.prefix, self.findings = ctx, h5, walker, prefix, findings

    def run(self) -> str:
        fmt = "hdf5"
        for obj in self.walker.objects():
            if obj.path == "/":
                names = {a.name for a, _ in obj.attributes}
                fmt = "keras-h5" if "model_config" in names else "hdf5-pytables" \
                    if "PYTABLES_FORMAT_VERSION" in names else "hdf5"
            self._attributes(obj)
            self._links(obj)
            self._storage(obj)
            if obj.attribute("PSEUDOATOM") == b"object":
                self._object_rows(obj)
        return fmt

    # ---- attributes --------------------------------------------------------------------------------
    def _attributes(self, obj: H5Object) -> None:
        for attr, dtype in obj.attributes:
            if not dtype.is_string:
                continue
            where = f"{self.prefix}{obj.path}@attribute {attr.name}"
            count = m.element_count(attr.space_bytes, self.walker.sizes)
            for i, value in enumerate(self.walker.strings(attr.value, dtype, count)):
                at = where if count == 1 else f"{where}[{i}]"
                self._value(obj, attr.name, value.rstrip(b"\0"), at)

    def _value(self, obj: H5Object, name: str, value: bytes, where: str) -> None:
        if value.endswith(b"."):
            self._unpickled(value, where)
        stripped = value.lstrip()
        if stripped.startswith(b"{") or (name in _KERAS_ATTRIBUTES and obj.path == "/"):
            self._keras(name, value, where)

    def _unpickled(self, value: bytes, where: str) -> None:
        """What pickle.loads of ``value`` runs (PyTables unpickles such attributes and rows)."""
        from modelguard.scan.pickle.scanner import loads_findings

        self.findings += loads_findings(self.ctx, BytesSource(value, where), limit=self.ctx.limits.max_pickle_bytes,
                                        report_limits=True)

    def _keras(self, name: str, value: bytes, where: str) -> None:
        if len(value) > self.ctx.limits.max_text_bytes:
            self.findings.append(finding("MG-S003", f"attribute of {len(value)} bytes is past the text limit",
                                         location=where))
            return
        try:
            doc: Any = json.loads(value.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            doc = None
        if keras.is_keras_config(doc):
            self.findings += keras.analyse_config(doc, where)
        elif name == "model_config":
            self.findings.append(finding("MG-S505", "model_config is not a Keras model config in JSON", location=where))

    # ---- links and storage -------------------------------------------------------------------------
    def _links(self, obj: H5Object) -> None:
        for link in obj.links:
            where = f"{self.prefix}{obj.path.rstrip('/')}/{link.name}"
            if link.kind == 64:
                self.findings.append(finding("MG-S512", f"external link to {link.target!r}: opening it reads "
                                             "another HDF5 file", location=where))
            elif link.kind not in (0, 1):
                self.findings.append(finding("MG-S512", f"user-defined link of type {link.kind}, resolved by a "
                                             "plugin the loading process registers", location=where))

    def _storage(self, obj: H5Object) -> None:
        where = f"{self.prefix}{obj.path}"
        if obj.external is not None:
            names = [self.walker.local_name(obj.external.heap, ef.name_offset) for ef in obj.external.files]
            self.findings.append(finding(
                "MG-S511", f"dataset reads its data from external file(s) {names!r}, resolved against the loading "
                "process's working directory", location=where))
        if obj.layout is not None and obj.layout.kind == 3:
            sources = _virtual_sources(self.h5, obj.layout, self.walker.global_heaps)
            outside = sorted({s for s in sources if s != "."})
            if outside:
                self.findings.append(finding("MG-S513", f"virtual dataset maps data from other file(s) {outside!r}",
                                             location=where))

    def _object_rows(self, obj: H5Object) -> None:
        """PyTables ObjectAtom rows: each a pickle that reading the node unpickles."""
        dtype, layout = obj.datatype, obj.layout
        if dtype is None or layout is None or not dtype.is_byte_sequence:
            return
        index = 0
        for raw in self._raw_data(obj, layout, dtype):  # chunk by chunk: rows are never all in memory
            count = len(raw) // (8 + self.h5.offset_size)
            for row in self.walker.variable_length(raw, count):
                self._unpickled(row, f"{self.prefix}{obj.path}[{index}]")
                index += 1
            self.walker.global_heaps.clear()  # the rows' heap collections are done with

    def _raw_data(self, obj: H5Object, layout: m.Layout, dtype: m.Datatype) -> Iterator[bytes]:
        """The dataset's raw elements (here: heap references), one chunk at a time."""
        if layout.kind == 0:
            yield layout.compact
            return
        if layout.kind == 1:
            if not self.h5.undefined(layout.address):
                yield self.h5.read(layout.address, layout.size)
            return
        if layout.kind != 2:
            raise Unsupported(f"pickled rows in a dataset with layout class {layout.kind}")
        if self.h5.undefined(layout.address):
            return  # no chunk written yet
        expected = 1
        for d in layout.chunk:
            expected *= d
        chunks: Iterable[Chunk]
        if layout.index == 0:  # version 3 layout: a version 1 B-tree
            chunks = chunks_v1(self.h5, layout.address, layout.ndims, self.walker.budget)
        elif layout.index == 1:  # a single chunk; its filtered size and mask are in the layout
            n = self.h5.length_size
            filtered = layout.flags & 0x02 and len(layout.index_info) >= n + 4
            size = self.h5.uint(layout.index_info, 0, n) if filtered else expected
            mask = int.from_bytes(layout.index_info[n:n + 4], "little") if filtered else 0
            chunks = [Chunk(layout.address, size, mask)]
        elif layout.index == 3:
            chunks = chunks_fixed_array(self.h5, layout.address, bool(obj.filters), self.walker.budget)
        else:
            raise Unsupported(f"pickled rows in chunks indexed by index type {layout.index}")
        for chunk in chunks:
            data = self.h5.read(chunk.address, expected if chunk.size < 0 else chunk.size)
            yield _unfilter(data, obj.filters, chunk.filter_mask, expected, dtype.size)


def _unfilter(data: bytes, filters: list[int], mask: int, expected: int, element: int) -> bytes:
    """Undo a chunk's filters, last applied first (bit ``i`` of ``mask``: filter ``i`` skipped)."""
    for i in reversed(range(len(filters))):
        if mask & (1 << i):
            continue
        fid = filters[i]
        if fid == _DEFLATE:
            d = zlib.decompressobj()
            try:
                data = d.decompress(data, expected)
            except zlib.error as e:
                raise Hdf5Error(f"a deflated chunk does not inflate: {e}") from None
        elif fid == _SHUFFLE and element > 1:
            n = len(data) // element
            out = bytearray(n * element)
            for j in range(element):  # byte j of every element was stored as the j-th run of n bytes
                out[j::element] = data[j * n:(j + 1) * n]
            data = bytes(out) + data[n * element:]
        elif fid == _SHUFFLE:
            pass
        elif fid == _FLETCHER32:
            data = data[:-4]
        else:
            raise Unsupported(f"filter {fid} on pickled rows")
    return data


def _virtual_sources(h5: Hdf5File, layout: m.Layout, cache: dict[int, dict[int, bytes]]) -> list[str]:
    """The source file names of a virtual dataset's mappings ("." is the file itself).

    Version 0 of the mapping block stores each entry's source file and dataset names as strings;
    version 1 (HDF5 2.0) puts a flags byte first, where 0x04 means "this file" with no name stored.
    """
    data = global_heap_object(h5, layout.address, layout.global_index, cache)
    n = h5.length_size
    if len(data) < 1 + n or data[0] not in (0, 1):
        raise Unsupported("a virtual dataset mapping of an unknown version")
    version, count = data[0], h5.uint(data, 1, n)
    pos = 1 + n
    names = []

    def string(at: int) -> tuple[str, int]:
        end = data.find(b"\0", at)
        if end < 0:
            raise Hdf5Error("a virtual dataset mapping is truncated")
        return data[at:end].decode("utf-8", "replace"), end + 1

    for _ in range(min(count, 100_000)):
        flags = 0
        if version == 1:
            flags, pos = data[pos] if pos < len(data) else 0, pos + 1
            if flags & ~0x04:
                raise Unsupported(f"a virtual dataset mapping entry with flags {flags:#x}")
        if flags & 0x04:
            names.append(".")
        else:
            name, pos = string(pos)
            names.append(name)
        _dataset, pos = string(pos)
        pos = _skip_selection(data, _skip_selection(data, pos))  # source, then virtual selection
    return names


def _skip_selection(data: bytes, pos: int) -> int:
    """The offset after a serialized dataspace selection (H5S_select_serialize)."""
    def u32(at: int) -> int:
        if at + 4 > len(data):
            raise Hdf5Error("a dataspace selection is truncated")
        return int.from_bytes(data[at:at + 4], "little")

    kind, version = u32(pos), u32(pos + 4)
    if kind in (0, 3):  # none, all
        return pos + 16
    if version == 1:  # point and hyperslab: an explicit length follows the reserved field
        return pos + 16 + u32(pos + 12)
    if kind == 2 and version == 2:
        return pos + 13 + u32(pos + 9)
    if version == 3 or (kind == 1 and version == 2):
        enc = data[pos + 9] if kind == 2 else data[pos + 8]
        rank_at = pos + 10 if kind == 2 else pos + 9
        rank = u32(rank_at)
        if kind == 2 and data[pos + 8] & 0x01:  # regular hyperslab: start, stride, count, block
            return rank_at + 4 + 4 * rank * enc
        n = int.from_bytes(data[rank_at + 4:rank_at + 4 + enc], "little")
        per = 2 * rank if kind == 2 else rank
        return rank_at + 4 + enc + n * per * enc
    raise Unsupported(f"a dataspace selection of type {kind}, version {version}")
