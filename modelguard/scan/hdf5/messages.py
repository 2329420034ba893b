"""Decoding of the HDF5 object header messages a loader acts on.

Owns the pure decoders for: datatype (enough to tell strings, variable-length data and their base
type), dataspace (how many elements), attribute (name, type, space, raw value), link (hard, soft,
external, user-defined), link info and attribute info (dense storage), data layout (compact,
contiguous, chunked, virtual), external data files, filter pipeline, symbol table, and shared
message references. Each decoder takes the message bytes and the file's offset and length sizes;
a field past the end of its message is :class:`~modelguard.scan.hdf5.reader.Hdf5Error`.

No reads here: addresses found in messages are followed by the scanner.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from modelguard.scan.hdf5.reader import Hdf5Error, Unsupported

DATASPACE, LINK_INFO, DATATYPE, LINK, EXTERNAL_FILES, LAYOUT = 0x01, 0x02, 0x03, 0x06, 0x07, 0x08
FILTERS, ATTRIBUTE, SYMBOL_TABLE, ATTRIBUTE_INFO = 0x0B, 0x0C, 0x11, 0x15
STRING, VLEN, REFERENCE = 3, 9, 7


@dataclass(frozen=True)
class Sizes:
    offset: int
    length: int


def _uint(data: bytes, pos: int, n: int) -> int:
    if pos + n > len(data):
        raise Hdf5Error("a message is shorter than its fields")
    return int.from_bytes(data[pos:pos + n], "little")


# ---- datatypes and dataspaces ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Datatype:
    cls: int
    size: int
    vlen_string: bool = False
    """a variable-length string (class 9, type 1)"""
    base: Datatype | None = None
    """the element type of a variable-length sequence"""

    @property
    def is_string(self) -> bool:
        return self.cls == STRING or (self.cls == VLEN and self.vlen_string)

    @property
    def is_byte_sequence(self) -> bool:
        """A variable-length sequence of 1-byte integers (PyTables' ObjectAtom rows)."""
        return self.cls == VLEN and not self.vlen_string and self.base is not None \
            and self.base.cls == 0 and self.base.size == 1


def datatype(data: bytes, depth: int = 0) -> Datatype:
    if len(data) < 8 or depth > 16:
        raise Hdf5Error("a datatype message is too short or nests too deep")
    cls, bits = data[0] & 0x0F, data[1]
    size = struct.unpack_from("<I", data, 4)[0]
    if cls == VLEN:
        return Datatype(cls, size, vlen_string=bits & 0x0F == 1, base=datatype(data[8:], depth + 1))
    return Datatype(cls, size)


def element_count(data: bytes, sizes: Sizes) -> int:
    """Elements in a dataspace (scalar: 1, null: 0)."""
    if len(data) < 2:
        raise Hdf5Error("a dataspace message is too short")
    version, rank = data[0], data[1]
    if version == 1:
        dims_at = 8
    elif version == 2:
        if data[3] == 2:
            return 0  # null dataspace
        dims_at = 4
    else:
        raise Unsupported(f"dataspace message version {version}")
    count = 1
    for i in range(rank):
        count *= _uint(data, dims_at + i * sizes.length, sizes.length)
    return count


# ---- attributes ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attribute:
    name: str
    type_bytes: bytes
    space_bytes: bytes
    value: bytes
    shared_type: bool = False


def attribute(data: bytes) -> Attribute:
    if len(data) < 8:
        raise Hdf5Error("an attribute message is too short")
    version, flags = data[0], data[1]
    name_size, type_size, space_size = struct.unpack_from("<HHH", data, 2)
    if flags & 0x02:
        raise Unsupported("an attribute whose dataspace is a shared message")
    if version == 1:
        def pad(n: int) -> int:
            return (n + 7) & ~7
        pos = 8
        name = data[pos:pos + name_size]
        pos += pad(name_size)
        type_bytes = data[pos:pos + type_size]
        pos += pad(type_size)
        space_bytes = data[pos:pos + space_size]
        pos += pad(space_size)
    elif version in (2, 3):
        pos = 8 + (1 if version == 3 else 0)
        name = data[pos:pos + name_size]
        type_bytes = data[pos + name_size:pos + name_size + type_size]
        space_bytes = data[pos + name_size + type_size:pos + name_size + type_size + space_size]
        pos += name_size + type_size + space_size
    else:
        raise Unsupported(f"attribute message version {version}")
    if len(name) < name_size or len(type_bytes) < type_size or len(space_bytes) < space_size:
        raise Hdf5Error("an attribute message is shorter than its fields")
    return Attribute(name.rstrip(b"\0").decode("utf-8", "replace"), type_bytes, space_bytes, data[pos:],
                     shared_type=bool(flags & 0x01))


# ---- links -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Link:
    name: str
    kind: int
    """0 hard, 1 soft, 64 external, 65-255 user-defined"""
    address: int = -1
    target: str = ""
    """a soft link's path; an external link's ``file:/path``"""


def link(data: bytes, sizes: Sizes) -> Link:
    if len(data) < 2 or data[0] != 1:
        raise Hdf5Error("a link message has an unknown version")
    flags = data[1]
    pos = 2
    kind = 0
    if flags & 0x08:
        kind, pos = data[pos] if pos < len(data) else -1, pos + 1
    pos += (8 if flags & 0x04 else 0) + (1 if flags & 0x10 else 0)
    width = 1 << (flags & 0x03)
    length = _uint(data, pos, width)
    pos += width
    name = data[pos:pos + length].decode("utf-8", "replace")
    pos += length
    if kind == 0:
        return Link(name, kind, address=_uint(data, pos, sizes.offset))
    info_len = _uint(data, pos, 2)
    info = data[pos + 2:pos + 2 + info_len]
    if kind == 64:
        # flags/version byte, then "file\0/object/path\0"
        parts = [*info[1:].split(b"\0"), b""]
        return Link(name, kind, target=f"{parts[0].decode('utf-8', 'replace')}:{parts[1].decode('utf-8', 'replace')}")
    return Link(name, kind, target=info.decode("utf-8", "replace"))


@dataclass(frozen=True)
class DenseStorage:
    """Where a link info or attribute info message keeps its dense storage."""

    heap: int
    name_index: int


def dense_storage(data: bytes, sizes: Sizes, *, attributes: bool) -> DenseStorage:
    if len(data) < 2 or data[0] != 0:
        raise Hdf5Error("a link or attribute info message has an unknown version")
    pos = 2 + ((2 if attributes else 8) if data[1] & 0x01 else 0)
    return DenseStorage(_uint(data, pos, sizes.offset), _uint(data, pos + sizes.offset, sizes.offset))


# ---- data layout, external files, filters ---------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    kind: int
    """0 compact, 1 contiguous, 2 chunked, 3 virtual"""
    address: int = -1
    size: int = 0
    compact: bytes = b""
    ndims: int = 0
    """chunked: the layout's dimensionality (the dataset's rank plus one for the element size)"""
    chunk: tuple[int, ...] = ()
    """chunked (version 3): the chunk's dimensions, the element size last"""
    index: int = 0
    """chunked version 4: the chunk index type (1 single chunk ... 5 version 2 B-tree)"""
    global_index: int = 0
    """virtual: the mapping's object in the global heap collection at ``address``"""
    index_info: bytes = b""
    """chunked version 4: the index type's own fields (between the type and the address)"""
    flags: int = 0


def layout(data: bytes, sizes: Sizes) -> Layout:
    if len(data) < 2:
        raise Hdf5Error("a layout message is too short")
    version, o = data[0], sizes.offset
    if version in (1, 2):
        rank, kind = data[1], data[2]
        if kind == 0:
            n = _uint(data, 8 + 4 * rank, 4)
            return Layout(0, compact=data[12 + 4 * rank:12 + 4 * rank + n])
        if kind == 2:
            raise Unsupported("a chunked dataset with a version 1/2 layout message")
        return Layout(kind, address=_uint(data, 8, o), ndims=rank)
    if version not in (3, 4, 5):  # HDF5 2.0 writes version 5 with version 4's fields
        raise Unsupported(f"data layout message version {version}")
    kind = data[1]
    if kind == 0:
        n = _uint(data, 2, 2)
        return Layout(0, compact=data[4:4 + n])
    if kind == 1:
        return Layout(1, address=_uint(data, 2, o), size=_uint(data, 2 + o, sizes.length))
    if kind == 3:
        return Layout(3, address=_uint(data, 2, o), global_index=_uint(data, 2 + o, 4))
    if kind != 2:
        raise Unsupported(f"data layout class {kind}")
    if version == 3:
        rank = data[2]
        chunk = tuple(_uint(data, 3 + o + 4 * i, 4) for i in range(rank))
        return Layout(2, address=_uint(data, 3, o), ndims=rank, chunk=chunk)
    flags, rank, width = data[2], data[3], data[4]
    pos = 5 + rank * width
    index = data[pos] if pos < len(data) else -1
    chunk = tuple(_uint(data, 5 + i * width, width) for i in range(rank))
    return Layout(2, index=index, ndims=rank, chunk=chunk, address=_uint(data, len(data) - o, o),
                  index_info=data[pos + 1:len(data) - o], flags=flags)


@dataclass(frozen=True)
class ExternalFile:
    name_offset: int
    offset: int
    size: int


@dataclass
class ExternalFiles:
    heap: int
    files: list[ExternalFile] = field(default_factory=list)


def external_files(data: bytes, sizes: Sizes) -> ExternalFiles:
    if len(data) < 8:
        raise Hdf5Error("an external data files message is too short")
    used = struct.unpack_from("<H", data, 6)[0]
    o, n = sizes.offset, sizes.length
    out = ExternalFiles(_uint(data, 8, o))
    pos = 8 + o
    for _ in range(used):
        out.files.append(ExternalFile(_uint(data, pos, n), _uint(data, pos + n, n), _uint(data, pos + 2 * n, n)))
        pos += 3 * n
    return out


def filter_ids(data: bytes) -> list[int]:
    """The filters of a pipeline, in order (1 deflate, 2 shuffle, 3 fletcher32, ...)."""
    if len(data) < 2:
        raise Hdf5Error("a filter pipeline message is too short")
    version, count = data[0], data[1]
    ids = []
    pos = 8 if version == 1 else 2
    for _ in range(count):
        fid = _uint(data, pos, 2)
        if version == 1 or fid >= 256:
            name_len = _uint(data, pos + 2, 2)
            nvalues = _uint(data, pos + 6, 2)
            name_space = ((name_len + 7) & ~7) if version == 1 else name_len
            pos += 8 + name_space + 4 * nvalues + (4 if version == 1 and nvalues % 2 else 0)
        else:
            nvalues = _uint(data, pos + 4, 2)
            pos += 6 + 4 * nvalues
        ids.append(fid)
    return ids


def symbol_table(data: bytes, sizes: Sizes) -> tuple[int, int]:
    """(v1 B-tree address, local heap address) of an old-style group."""
    return _uint(data, 0, sizes.offset), _uint(data, sizes.offset, sizes.offset)


def shared_address(data: bytes, sizes: Sizes) -> int:
    """The object header a shared message points at (a committed datatype); SOHM heap entries are
    :class:`Unsupported`."""
    if len(data) < 2:
        raise Hdf5Error("a shared message reference is too short")
    version, kind = data[0], data[1]
    if version == 1:
        return _uint(data, 8, sizes.offset)
    if version == 2 or (version == 3 and kind == 2):
        return _uint(data, 2, sizes.offset)
    raise Unsupported("a message shared through the file's shared message heap")
