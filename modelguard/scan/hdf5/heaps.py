"""HDF5 heaps and B-trees: where names, variable-length data and dense storage live.

Owns the readers for the local heap (``HEAP``: group member and external file names), global heap
collections (``GCOL``: variable-length data, virtual dataset mappings), the fractal heap
(``FRHP``/``FHIB``/``FHDB``: dense attribute and link storage; managed, tiny and huge objects),
version 1 B-trees (``TREE``: old-style group members and chunk indexes, with ``SNOD`` symbol nodes)
and version 2 B-trees (``BTHD``/``BTIN``/``BTLF``: the records of dense storage indexes). Node
counts and depths are bounded; cycles end at a visited-address check.

Knows the layouts, not what the records mean to a loader.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from modelguard.scan.hdf5.reader import Hdf5Error, Hdf5File, Unsupported

MAX_NODES = 1_000_000
MAX_DEPTH = 64


def _enc_size(n: int) -> int:
    """Bytes libhdf5 uses to store a count up to ``n`` (H5VM_limit_enc_size)."""
    return (max(n, 1).bit_length() - 1) // 8 + 1


class Budget:
    """Nodes visited in one file, across every tree and heap."""

    def __init__(self) -> None:
        self.nodes = 0

    def visit(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise Unsupported(f"more than {MAX_NODES} B-tree and heap nodes")


# ---- local and global heaps ------------------------------------------------------------------------------
class LocalHeap:
    def __init__(self, h5: Hdf5File, address: int) -> None:
        o, n = h5.offset_size, h5.length_size
        head = h5.read(address, 8 + 2 * n + o)
        if head[:4] != b"HEAP":
            raise Hdf5Error(f"no local heap at {h5.absolute(address)}")
        size = h5.uint(head, 8, n)
        self.data = h5.read(h5.uint(head, 8 + 2 * n, o), size)

    def string(self, offset: int) -> bytes:
        end = self.data.find(b"\0", offset)
        if offset >= len(self.data) or end < 0:
            raise Hdf5Error("a name runs past the end of its local heap")
        return self.data[offset:end]


def global_heap_object(h5: Hdf5File, collection: int, index: int, cache: dict[int, dict[int, bytes]]) -> bytes:
    """Object ``index`` of the global heap collection at ``collection``."""
    objects = cache.get(collection)
    if objects is None:
        n = h5.length_size
        head = h5.read(collection, 8 + n)
        if head[:4] != b"GCOL":
            raise Hdf5Error(f"no global heap collection at {h5.absolute(collection)}")
        size = h5.uint(head, 8, n)
        data = h5.read(collection, size)
        objects = {}
        pos = 8 + n
        while pos + 8 + n <= len(data):
            idx = struct.unpack_from("<H", data, pos)[0]
            if idx == 0:
                break  # free space to the end of the collection
            length = h5.uint(data, pos + 8, n)
            body = data[pos + 8 + n:pos + 8 + n + length]
            if len(body) < length:
                raise Hdf5Error("a global heap object runs past its collection")
            objects[idx] = body
            pos += 8 + n + ((length + 7) & ~7)
        cache[collection] = objects
    found = objects.get(index)
    if found is None:
        raise Hdf5Error(f"global heap collection at {h5.absolute(collection)} has no object {index}")
    return found


# ---- version 1 B-trees -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SymbolEntry:
    name_offset: int
    header: int
    cache_type: int
    scratch: bytes


def _v1_children(h5: Hdf5File, address: int, node_type: int, key_size: int, budget: Budget,
                 depth: int = 0, seen: set[int] | None = None) -> Iterator[tuple[bytes, int]]:
    """(key before the child, child address) of every leaf-level child of the B-tree at ``address``."""
    seen = set() if seen is None else seen
    if depth > MAX_DEPTH or address in seen:
        raise Hdf5Error("a version 1 B-tree loops or is too deep")
    seen.add(address)
    budget.visit()
    o = h5.offset_size
    head = h5.read(address, 8 + 2 * o)
    if head[:4] != b"TREE" or head[4] != node_type:
        raise Hdf5Error(f"no B-tree node of type {node_type} at {h5.absolute(address)}")
    level, used = head[5], struct.unpack_from("<H", head, 6)[0]
    body = h5.read(address + 8 + 2 * o, used * (key_size + o) + key_size)
    for i in range(used):
        key = body[i * (key_size + o):i * (key_size + o) + key_size]
        child = h5.uint(body, i * (key_size + o) + key_size, o)
        if level == 0:
            yield key, child
        else:
            yield from _v1_children(h5, child, node_type, key_size, budget, depth + 1, seen)


def group_entries(h5: Hdf5File, btree: int, budget: Budget) -> Iterator[SymbolEntry]:
    """The symbol table entries of an old-style group (B-tree of ``SNOD`` nodes)."""
    o = h5.offset_size
    for _key, snod in _v1_children(h5, btree, 0, h5.length_size, budget):
        budget.visit()
        head = h5.read(snod, 8)
        if head[:4] != b"SNOD":
            raise Hdf5Error(f"no symbol table node at {h5.absolute(snod)}")
        count = struct.unpack_from("<H", head, 6)[0]
        size = 2 * o + 24
        data = h5.read(snod + 8, count * size)
        for i in range(count):
            e = data[i * size:(i + 1) * size]
            yield SymbolEntry(h5.uint(e, 0, o), h5.uint(e, o, o), struct.unpack_from("<I", e, 2 * o)[0],
                              e[2 * o + 8:2 * o + 24])


@dataclass(frozen=True)
class Chunk:
    address: int
    size: int
    filter_mask: int


def chunks_v1(h5: Hdf5File, btree: int, ndims: int, budget: Budget) -> Iterator[Chunk]:
    """The chunks of a dataset indexed by a version 1 B-tree (layout message version 1-3)."""
    key_size = 8 + 8 * ndims
    for key, child in _v1_children(h5, btree, 1, key_size, budget):
        yield Chunk(child, struct.unpack_from("<I", key, 0)[0], struct.unpack_from("<I", key, 4)[0])


def chunks_fixed_array(h5: Hdf5File, header: int, filtered: bool, budget: Budget) -> Iterator[Chunk]:
    """The chunks of a dataset indexed by a fixed array (layout version 4, index type 3), unpaged."""
    o, n = h5.offset_size, h5.length_size
    head = h5.read(header, 8 + n + o)
    if head[:4] != b"FAHD":
        raise Hdf5Error(f"no fixed array header at {h5.absolute(header)}")
    entry_size, page_bits = head[6], head[7]
    count, block = h5.uint(head, 8, n), h5.uint(head, 8 + n, o)
    if count > (1 << page_bits):
        raise Unsupported("a paged fixed array chunk index")
    if h5.undefined(block):
        return
    budget.visit()
    data = h5.read(block, 6 + o + count * entry_size)
    if data[:4] != b"FADB":
        raise Hdf5Error(f"no fixed array data block at {h5.absolute(block)}")
    for i in range(count):
        entry = data[6 + o + i * entry_size:6 + o + (i + 1) * entry_size]
        address = h5.uint(entry, 0, o)
        if h5.undefined(address):
            continue
        if filtered:
            size = int.from_bytes(entry[o:entry_size - 4], "little")
            yield Chunk(address, size, struct.unpack_from("<I", entry, entry_size - 4)[0])
        else:
            yield Chunk(address, -1, 0)


# ---- version 2 B-trees -----------------------------------------------------------------------------------
def v2_records(h5: Hdf5File, header: int, budget: Budget) -> tuple[int, list[bytes]]:
    """(record type, every record) of the version 2 B-tree whose header is at ``header``."""
    o, n = h5.offset_size, h5.length_size
    head = h5.read(header, 16 + o + 2 + n)
    if head[:4] != b"BTHD":
        raise Hdf5Error(f"no version 2 B-tree header at {h5.absolute(header)}")
    btype = head[5]
    node_size, record_size, depth = struct.unpack_from("<IHH", head, 6)
    root, root_count = h5.uint(head, 16, o), struct.unpack_from("<H", head, 16 + o)[0]
    if record_size == 0 or node_size < 10 + record_size or depth > MAX_DEPTH:
        raise Hdf5Error(f"version 2 B-tree at {h5.absolute(header)} has impossible sizes")
    # Field widths of internal node pointers, as libhdf5 computes them (H5B2__hdr_init).
    max_nrec = [(node_size - 10) // record_size]
    cum = [max_nrec[0]]
    cum_size = [0]
    nrec_size = _enc_size(max_nrec[0])
    for d in range(1, depth + 1):
        pointer = o + nrec_size + cum_size[d - 1]
        max_nrec.append((node_size - (10 + pointer)) // (record_size + pointer))
        cum.append((max_nrec[d] + 1) * cum[d - 1] + max_nrec[d])
        cum_size.append(_enc_size(cum[d]))
    records: list[bytes] = []
    if h5.undefined(root) or root_count == 0:
        return btype, records
    stack = [(root, root_count, depth)]
    seen: set[int] = set()
    while stack:
        address, count, level = stack.pop()
        budget.visit()
        if address in seen or count > max_nrec[level]:
            raise Hdf5Error("a version 2 B-tree loops or overflows a node")
        seen.add(address)
        data = h5.read(address, node_size)
        if data[:4] != (b"BTLF" if level == 0 else b"BTIN"):
            raise Hdf5Error(f"no version 2 B-tree node at {h5.absolute(address)}")
        records += [data[6 + i * record_size:6 + (i + 1) * record_size] for i in range(count)]
        if level:
            pos = 6 + count * record_size
            width = o + nrec_size + cum_size[level - 1]
            for i in range(count + 1):
                child = h5.uint(data, pos + i * width, o)
                child_count = h5.uint(data, pos + i * width + o, nrec_size)
                stack.append((child, child_count, level - 1))
    return btype, records


# ---- fractal heaps ----------------------------------------------------------------------------------------
class FractalHeap:
    """The objects of a fractal heap, by heap ID (managed, tiny, and huge through their B-tree)."""

    def __init__(self, h5: Hdf5File, address: int, budget: Budget) -> None:
        self.h5, self.budget = h5, budget
        o, n = h5.offset_size, h5.length_size
        head = h5.read(address, 22 + 12 * n + 3 * o + 10)
        if head[:4] != b"FRHP":
            raise Hdf5Error(f"no fractal heap at {h5.absolute(address)}")
        self.id_length, filters_length = struct.unpack_from("<HH", head, 5)
        if filters_length:
            raise Unsupported("a fractal heap with I/O filters (compressed dense storage)")
        self.flags = head[9]
        pos = 14 + n  # max managed object size (4), next huge id (L)
        self.huge_btree = h5.uint(head, pos, o)
        pos += o + n + o + 8 * n  # free space, its manager, managed and allocated space, iterator, counts
        self.width = struct.unpack_from("<H", head, pos)[0]
        self.start_size, self.max_direct = h5.uint(head, pos + 2, n), h5.uint(head, pos + 2 + n, n)
        self.max_heap_bits = struct.unpack_from("<H", head, pos + 2 + 2 * n)[0]
        pos += 4 + 2 * n + 2  # starting rows in the root indirect block (2)
        self.root = h5.uint(head, pos, o)
        self.root_rows = struct.unpack_from("<H", head, pos + o)[0]
        if self.width == 0 or self.start_size == 0 or self.start_size & (self.start_size - 1) \
                or self.max_direct < self.start_size or self.max_heap_bits > 64:
            raise Hdf5Error(f"fractal heap at {h5.absolute(address)} has impossible sizes")
        self.offset_bytes = (self.max_heap_bits + 7) // 8
        self.length_bytes = min(((self.max_direct - 1).bit_length() + 7) // 8, self.id_length - 1 - self.offset_bytes)
        self._blocks: list[tuple[int, int, int]] | None = None  # (heap offset, size, file address)
        self._huge: dict[int, tuple[int, int]] | None = None

    def get(self, heap_id: bytes) -> bytes:
        kind = (heap_id[0] >> 4) & 0x03
        if kind == 2:  # tiny: the object is in the ID (a 12-bit length when the ID is longer than 17 bytes)
            if self.id_length > 17:
                return heap_id[2:2 + (((heap_id[0] & 0x0F) << 8) | heap_id[1]) + 1]
            return heap_id[1:1 + (heap_id[0] & 0x0F) + 1]
        if kind == 1:
            return self._get_huge(heap_id)
        offset = int.from_bytes(heap_id[1:1 + self.offset_bytes], "little")
        length = int.from_bytes(heap_id[1 + self.offset_bytes:1 + self.offset_bytes + self.length_bytes], "little")
        for start, size, address in self._direct_blocks():
            if start <= offset and offset + length <= start + size:
                return self.h5.read(address + offset - start, length)
        raise Hdf5Error("a fractal heap ID points outside every direct block")

    def _get_huge(self, heap_id: bytes) -> bytes:
        o, n = self.h5.offset_size, self.h5.length_size
        if len(heap_id) >= 1 + o + n:  # stored directly in the ID: address and length
            return self.h5.read(self.h5.uint(heap_id, 1, o), self.h5.uint(heap_id, 1 + o, n))
        if self._huge is None:
            btype, records = v2_records(self.h5, self.huge_btree, self.budget)
            if btype != 1:
                raise Unsupported(f"huge fractal heap objects indexed by B-tree type {btype}")
            self._huge = {self.h5.uint(r, o + n, n): (self.h5.uint(r, 0, o), self.h5.uint(r, o, n)) for r in records}
        found = self._huge.get(int.from_bytes(heap_id[1:], "little"))
        if found is None:
            raise Hdf5Error("a huge fractal heap object is not in its B-tree")
        return self.h5.read(*found)

    def _row_size(self, row: int) -> int:
        return self.start_size if row < 2 else self.start_size << (row - 1)

    def _direct_blocks(self) -> list[tuple[int, int, int]]:
        if self._blocks is None:
            self._blocks = []
            if not self.h5.undefined(self.root):
                if self.root_rows == 0:
                    self._blocks.append((0, self.start_size, self._direct_data(self.root)))
                else:
                    self._indirect(self.root, 0, self.root_rows, 0)
        return self._blocks

    def _direct_data(self, address: int) -> int:
        """Where a direct block's object space begins (its offsets count from the block's start)."""
        self.budget.visit()
        if self.h5.read(address, 4) != b"FHDB":
            raise Hdf5Error(f"no fractal heap direct block at {self.h5.absolute(address)}")
        return address

    def _indirect(self, address: int, heap_offset: int, rows: int, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise Hdf5Error("fractal heap indirect blocks nest too deep")
        self.budget.visit()
        o = self.h5.offset_size
        prefix = 5 + o + self.offset_bytes
        max_direct_rows = (self.max_direct.bit_length() - self.start_size.bit_length()) + 2
        entries = rows * self.width
        data = self.h5.read(address, prefix + entries * o)
        if data[:4] != b"FHIB":
            raise Hdf5Error(f"no fractal heap indirect block at {self.h5.absolute(address)}")
        offset = heap_offset
        for i in range(entries):
            row = i // self.width
            size = self._row_size(row)
            child = self.h5.uint(data, prefix + i * o, o)
            if not self.h5.undefined(child):
                if row < max_direct_rows:
                    self._blocks_append(offset, size, self._direct_data(child))
                else:
                    child_rows = (size.bit_length() - (self.start_size * self.width).bit_length()) + 1
                    self._indirect(child, offset, child_rows, depth + 1)
            offset += size

    def _blocks_append(self, start: int, size: int, address: int) -> None:
        assert self._blocks is not None
        self._blocks.append((start, size, address))
