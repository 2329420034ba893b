"""Every object of an HDF5 file, reached through its groups, with what a loader reads from it.

Owns :class:`Walker`: a breadth-first walk from the root group through old-style groups (symbol
table B-trees), new-style groups (link messages) and dense link storage (fractal heap and name
index), visiting each object header once. For each object it decodes the attributes (compact and
dense, committed datatypes followed), the links (hard links are walked; soft, external and
user-defined links are recorded), and for datasets the datatype, layout, filters and external
file list. Attribute and dataset values of string and variable-length types are read from the raw
value or the global heap on request.

No verdicts here (see :mod:`~modelguard.scan.hdf5.scanner`).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from modelguard.scan.hdf5 import messages as m
from modelguard.scan.hdf5.heaps import Budget, FractalHeap, LocalHeap, global_heap_object, group_entries, v2_records
from modelguard.scan.hdf5.reader import Hdf5Error, Hdf5File, Message, Unsupported

MAX_OBJECTS = 200_000
MAX_ELEMENTS = 100_000
"""string elements read from one attribute or dataset"""


@dataclass
class H5Object:
    address: int
    path: str
    attributes: list[tuple[m.Attribute, m.Datatype]] = field(default_factory=list)
    links: list[m.Link] = field(default_factory=list)
    datatype: m.Datatype | None = None
    layout: m.Layout | None = None
    filters: list[int] = field(default_factory=list)
    external: m.ExternalFiles | None = None
    space: bytes = b""

    def attribute(self, name: str) -> bytes | None:
        """A scalar fixed-length string attribute's value, NULs stripped (PyTables' CLASS, PSEUDOATOM)."""
        for attr, dtype in self.attributes:
            if attr.name == name and dtype.cls == m.STRING:
                return attr.value[:dtype.size].rstrip(b"\0")
        return None


class Walker:
    """Walks an HDF5 file's objects once each, from the root group."""

    def __init__(self, h5: Hdf5File) -> None:
        self.h5 = h5
        self.sizes = m.Sizes(h5.offset_size, h5.length_size)
        self.budget = Budget()
        self.global_heaps: dict[int, dict[int, bytes]] = {}
        self._local_heaps: dict[int, LocalHeap] = {}
        self._types: dict[int, m.Datatype] = {}

    def objects(self) -> Iterator[H5Object]:
        queue: deque[tuple[int, str]] = deque([(self.h5.root, "/")])
        seen: set[int] = set()
        while queue:
            address, path = queue.popleft()
            if address in seen:
                continue  # a hard link to an object already walked (or a cycle)
            seen.add(address)
            if len(seen) > MAX_OBJECTS:
                raise Unsupported(f"more than {MAX_OBJECTS} objects")
            obj = self._object(address, path)
            for link in obj.links:
                if link.kind == 0:
                    queue.append((link.address, f"{path.rstrip('/')}/{link.name}"))
            yield obj

    def _object(self, address: int, path: str) -> H5Object:
        obj = H5Object(address, path)
        for msg in self.h5.object_header(address):
            self._message(obj, msg)
        return obj

    def _message(self, obj: H5Object, msg: Message) -> None:
        t, sizes = msg.type, self.sizes
        if t == m.ATTRIBUTE:
            if msg.shared:
                raise Unsupported("an attribute stored in the shared message heap")
            obj.attributes.append(self._attribute(msg.data))
        elif t == m.ATTRIBUTE_INFO:
            dense = m.dense_storage(msg.data, sizes, attributes=True)
            if not self.h5.undefined(dense.heap):
                obj.attributes += self._dense_attributes(dense)
        elif t == m.LINK:
            obj.links.append(m.link(msg.data, sizes))
        elif t == m.LINK_INFO:
            dense = m.dense_storage(msg.data, sizes, attributes=False)
            if not self.h5.undefined(dense.heap):
                obj.links += self._dense_links(dense)
        elif t == m.SYMBOL_TABLE:
            obj.links += self._symbol_table(*m.symbol_table(msg.data, sizes))
        elif t == m.DATATYPE:
            obj.datatype = self._datatype(msg)
        elif t == m.DATASPACE:
            obj.space = msg.data
        elif t == m.LAYOUT:
            obj.layout = m.layout(msg.data, sizes)
        elif t == m.FILTERS:
            obj.filters = m.filter_ids(msg.data)
        elif t == m.EXTERNAL_FILES:
            obj.external = m.external_files(msg.data, sizes)

    # ---- attributes ------------------------------------------------------------------------------------
    def _attribute(self, data: bytes) -> tuple[m.Attribute, m.Datatype]:
        attr = m.attribute(data)
        if attr.shared_type:
            return attr, self._committed_type(m.shared_address(attr.type_bytes, self.sizes))
        return attr, m.datatype(attr.type_bytes)

    def _datatype(self, msg: Message) -> m.Datatype:
        if msg.shared:
            return self._committed_type(m.shared_address(msg.data, self.sizes))
        return m.datatype(msg.data)

    def _committed_type(self, address: int) -> m.Datatype:
        """The datatype of a committed (named) datatype object."""
        found = self._types.get(address)
        if found is None:
            for msg in self.h5.object_header(address):
                if msg.type == m.DATATYPE and not msg.shared:
                    found = self._types[address] = m.datatype(msg.data)
                    break
            else:
                raise Hdf5Error(f"no datatype in the committed datatype at {self.h5.absolute(address)}")
        return found

    def _dense_attributes(self, dense: m.DenseStorage) -> list[tuple[m.Attribute, m.Datatype]]:
        heap = FractalHeap(self.h5, dense.heap, self.budget)
        btype, records = v2_records(self.h5, dense.name_index, self.budget)
        if btype != 8:
            raise Hdf5Error(f"attribute name index is a B-tree of type {btype}")
        out = []
        for record in records:
            if len(record) < 9:
                raise Hdf5Error("an attribute index record is too short")
            if record[8] & 0x02:
                raise Unsupported("an attribute stored in the shared message heap")
            out.append(self._attribute(heap.get(record[:8])))
        return out

    # ---- links -----------------------------------------------------------------------------------------
    def _dense_links(self, dense: m.DenseStorage) -> list[m.Link]:
        heap = FractalHeap(self.h5, dense.heap, self.budget)
        btype, records = v2_records(self.h5, dense.name_index, self.budget)
        if btype != 5:
            raise Hdf5Error(f"link name index is a B-tree of type {btype}")
        return [m.link(heap.get(record[4:4 + heap.id_length]), self.sizes) for record in records]

    def _symbol_table(self, btree: int, heap_address: int) -> list[m.Link]:
        heap = self._local_heap(heap_address)
        links = []
        for entry in group_entries(self.h5, btree, self.budget):
            name = heap.string(entry.name_offset).decode("utf-8", "replace")
            if entry.cache_type == 2:  # a soft link: its value is in the local heap
                target = heap.string(struct.unpack_from("<I", entry.scratch, 0)[0]).decode("utf-8", "replace")
                links.append(m.Link(name, 1, target=target))
            else:
                links.append(m.Link(name, 0, address=entry.header))
        return links

    def _local_heap(self, address: int) -> LocalHeap:
        heap = self._local_heaps.get(address)
        if heap is None:
            heap = self._local_heaps[address] = LocalHeap(self.h5, address)
        return heap

    def local_name(self, heap_address: int, offset: int) -> str:
        return self._local_heap(heap_address).string(offset).decode("utf-8", "replace")

    # ---- values ----------------------------------------------------------------------------------------
    def strings(self, value: bytes, dtype: m.Datatype, count: int) -> Iterator[bytes]:
        """The elements of a string-typed value: fixed-length slices, or variable-length strings
        and byte sequences from the global heap."""
        if dtype.cls == m.STRING and dtype.size:
            for i in range(min(count, MAX_ELEMENTS, len(value) // dtype.size)):
                yield value[i * dtype.size:(i + 1) * dtype.size]
            return
        if dtype.cls == m.VLEN:
            yield from self.variable_length(value, count)

    def variable_length(self, raw: bytes, count: int) -> Iterator[bytes]:
        """Variable-length elements (length, global heap collection, index) of a raw value."""
        o = self.h5.offset_size
        size = 4 + o + 4
        for i in range(min(count, MAX_ELEMENTS, len(raw) // size)):
            length = struct.unpack_from("<I", raw, i * size)[0]
            collection = self.h5.uint(raw, i * size + 4, o)
            index = struct.unpack_from("<I", raw, i * size + 4 + o)[0]
            if length == 0 or collection == 0 or self.h5.undefined(collection):
                continue  # an empty element has no heap object
            yield global_heap_object(self.h5, collection, index, self.global_heaps)[:length]
