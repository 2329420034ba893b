"""MATLAB ``.mat`` files: v4 (headers only), v5/v7 (tagged data elements), v7.3 (HDF5 after a 512-byte header).

Owns the framing checks. ``scipy.io.loadmat`` and MATLAB read numbers, strings, cells and
structs; a MATLAB object or function handle is stored as data (scipy returns it as an opaque
value, MATLAB runs only class code already on its path). A v7.3 file is an HDF5 file with a
user block, which h5py opens from its name, so Keras' HDF5 loader would read a model config
hidden in it: its HDF5 part goes to the HDF5 scanner.

v5: a 128-byte header (text, subsystem offset, version, endian indicator ``IM``/``MI``), then
data elements, each a tag (type, byte count; or the 4-byte "small element" form) and its data,
padded to 8 bytes except zlib-compressed elements (miCOMPRESSED). Every element must lie in the
file. v4: a sequence of matrices, each a 20-byte header, a name and rows x columns values.

Must not decompress or decode the arrays.
"""

from __future__ import annotations

import struct

from modelguard.models import Finding
from modelguard.scan.base import MalformedError, Outcome, ScanContext, ScanLimitError, Source
from modelguard.scan.recognise import looks_like_mat_v4
from modelguard.scan.streams import bounded

_MI_COMPRESSED = 15
_MAX_ELEMENTS = 10_000_000
_V4_SIZES = {0: 8, 1: 4, 2: 4, 3: 2, 4: 2, 5: 1}
_HDF5 = b"\x89HDF\r\n\x1a\n"


def scan(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    if head.startswith(b"MATLAB") and len(head) >= 128:
        version = head[124:126]
        endian = "<" if head[126:128] == b"IM" else ">"
        (number,) = struct.unpack(f"{endian}H", version)
        if number == 0x0200:
            return _v73(ctx, source)
        if number != 0x0100:
            raise MalformedError(f"MAT-file version {number:#06x} is neither 5 (0x0100) nor 7.3 (0x0200)", source.name)
        _v5_elements(source, endian)
        return Outcome("matlab")
    if looks_like_mat_v4(head, source.size):
        _v4_matrices(source)
        return Outcome("matlab")
    raise MalformedError("not a MAT-file header", source.name)


def _v5_elements(source: Source, endian: str) -> None:
    pos, size, count = 128, source.size, 0
    with bounded(source) as f:
        while pos < size:
            count += 1
            if count > _MAX_ELEMENTS:
                raise ScanLimitError(f"more than {_MAX_ELEMENTS} MAT-file data elements", source.name)
            f.seek(pos)
            tag = f.read(8)
            if len(tag) < 8:
                raise MalformedError(f"file ends inside the data element tag at offset {pos}", source.name)
            kind, nbytes = struct.unpack(f"{endian}II", tag)
            if kind >> 16:  # small data element: 2-byte count, 2-byte type, up to 4 bytes of data in the tag
                pos += 8
                continue
            end = pos + 8 + nbytes
            if end > size:
                raise MalformedError(f"data element of {nbytes} bytes at offset {pos} runs past the end", source.name)
            pos = end if kind == _MI_COMPRESSED else pos + 8 + (nbytes + 7) // 8 * 8
    if pos > size + 7:
        raise MalformedError("last data element's padding runs past the end", source.name)


def _v4_matrices(source: Source) -> None:
    pos, size = 0, source.size
    with bounded(source) as f:
        while pos < size:
            f.seek(pos)
            header = f.read(20)
            if len(header) < 20:
                raise MalformedError(f"file ends inside a matrix header at offset {pos}", source.name)
            # M (thousands digit of the type) 0 is little-endian IEEE, 1 big-endian: the type read in
            # the right byte order is below 2000.
            order = "<" if 0 <= struct.unpack("<i", header[:4])[0] < 1000 else ">"
            mopt, rows, cols, imag, namelen = struct.unpack(f"{order}5i", header)
            precision = mopt // 10 % 10
            if precision not in _V4_SIZES or rows < 0 or cols < 0 or namelen < 1 or imag not in (0, 1):
                raise MalformedError(f"bad v4 matrix header at offset {pos}", source.name)
            pos += 20 + namelen + rows * cols * _V4_SIZES[precision] * (2 if imag else 1)
    if pos != size:
        raise MalformedError("v4 matrices run past the end of the file", source.name)


def _v73(ctx: ScanContext, source: Source) -> Outcome:
    """v7.3: the HDF5 superblock follows the 512-byte user block; the whole file goes to the HDF5
    scanner, which finds the superblock there as h5py does."""
    with bounded(source) as f:
        f.seek(512)
        if f.read(8) != _HDF5:
            raise MalformedError("MAT-file v7.3 without the HDF5 signature at offset 512", source.name)
    from modelguard.scan.hdf5.scanner import scan as scan_hdf5

    with source.open() as f:
        head = f.read(4096)
    inner = scan_hdf5(ctx, source, head)
    findings: list[Finding] = list(inner.findings)
    return Outcome("matlab", findings)
