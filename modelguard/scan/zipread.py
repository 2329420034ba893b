"""A tolerant zip reader that sees an archive the way torch's miniz reader does.

Python's ``zipfile`` refuses archives that torch loads happily (local/central name mismatch,
odd flag bits, bad CRC), so a scanner built on it can be bypassed by header tampering. This
reader takes the central directory as the truth (that is what miniz looks names up in), reads
each member's local header only for its data offset, and *records* every disagreement as an
anomaly for the scanner to report instead of refusing. Without a usable central directory it
walks local headers forward, which is how a truncated archive is still scanned.

Pure parsing of headers: never decompresses, never reads member data, bounded by
``max_members``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO

from modelguard.scan.base import MalformedError, ScanLimitError
from modelguard.scan.streams import read_at

LOCAL_SIG = b"PK\x03\x04"
CENTRAL_SIG = b"PK\x01\x02"
EOCD_SIG = b"PK\x05\x06"
EOCD64_SIG = b"PK\x06\x06"
EOCD64_LOCATOR_SIG = b"PK\x06\x07"

_EOCD = struct.Struct("<4s4H2LH")  # sig, disk, cd disk, entries here, entries, cd size, cd offset, comment len
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR = struct.Struct("<4sLQL")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_NAME_GUESS = 256
"""bytes read past a local header in the same call: its name, nearly always"""

STORED, DEFLATED, BZIP2 = 0, 8, 12

FLAG_ENCRYPTED = 0x0001
FLAG_DATA_DESCRIPTOR = 0x0008
FLAG_UTF8 = 0x0800
# Bits real writers set: encryption (handled separately), compression options (1, 2),
# data descriptor (3), UTF-8 names (11). Anything else (patched data, strong encryption,
# masked headers, reserved bits) is unusual enough to report.
ORDINARY_FLAGS = 0x0001 | 0x0002 | 0x0004 | 0x0008 | 0x0800

_MAX_TAIL = 65_535 + _EOCD.size


@dataclass
class ZipMember:
    name: str
    """the central-directory name: the one loaders look members up by"""
    local_name: str
    method: int
    flags: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int
    """absolute offset of the local header in the file"""
    data_offset: int
    """absolute offset of the member's data"""
    external_attr: int = 0
    create_system: int = 0
    anomalies: list[str] = field(default_factory=list)
    """tampering or inconsistencies a strict reader would refuse"""
    broken: str = ""
    """why the member's data cannot be located (non-empty: unreadable)"""
    local_flags: int = 0
    alias: bool = False
    """a second reading of a central entry (at its unadjusted offset), not a member of its own"""

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/") and self.size == 0

    @property
    def is_symlink(self) -> bool:
        return self.create_system == 3 and (self.external_attr >> 16) & 0o170000 == 0o120000

    @property
    def has_descriptor(self) -> bool:
        return bool((self.flags | self.local_flags) & FLAG_DATA_DESCRIPTOR)

    @property
    def end(self) -> int:
        return self.data_offset + self.compressed_size


@dataclass
class ZipDirectory:
    members: list[ZipMember]
    archive_start: int
    """where the archive begins: bytes before it are a prefix (junk or a polyglot pickle)"""
    central_start: int
    """offset of the central directory (or of the end of the last member when walking)"""
    eocd_end: int
    """offset just past the end-of-central-directory record and its comment"""
    from_central_directory: bool
    problems: list[str] = field(default_factory=list)
    """structural damage: the archive is truncated or malformed"""


def _decode(raw: bytes, flags: int) -> str:
    if flags & FLAG_UTF8:
        return raw.decode("utf-8", "replace")
    # miniz and zipfile both treat non-UTF-8 names as cp437; keep every byte distinguishable.
    # ASCII names (nearly all) decode the same either way, without loading the cp437 codec.
    return raw.decode("ascii") if raw.isascii() else raw.decode("cp437")


def _zip64_extra(extra: bytes, size: int, csize: int, offset: int) -> tuple[int, int, int]:
    i = 0
    while i + 4 <= len(extra):
        tag, ln = struct.unpack_from("<2H", extra, i)
        body = extra[i + 4 : i + 4 + ln]
        if tag == 0x0001:
            vals = [struct.unpack_from("<Q", body, j)[0] for j in range(0, len(body) - 7, 8)]
            if size == 0xFFFFFFFF and vals:
                size = vals.pop(0)
            if csize == 0xFFFFFFFF and vals:
                csize = vals.pop(0)
            if offset == 0xFFFFFFFF and vals:
                offset = vals.pop(0)
        i += 4 + ln
    return size, csize, offset


def _find_eocd(f: BinaryIO, file_size: int) -> tuple[int, tuple[int, ...]] | None:
    """The last plausible end-of-central-directory record (miniz and zipfile search backwards)."""
    start = max(0, file_size - _MAX_TAIL)
    f.seek(start)
    tail = f.read(file_size - start)
    pos = len(tail)
    while True:
        pos = tail.rfind(EOCD_SIG, 0, pos)
        if pos < 0:
            return None
        if pos + _EOCD.size <= len(tail):
            rec = _EOCD.unpack_from(tail, pos)
            comment_len = rec[7]
            if start + pos + _EOCD.size + comment_len <= file_size:
                return start + pos, rec
        # not a structurally valid record: keep searching backwards


def _read_zip64(f: BinaryIO, eocd_offset: int) -> tuple[int, int, int, int] | None:
    """(entries, cd size, cd offset, record offset) from the zip64 records, if present."""
    if eocd_offset < _LOCATOR.size:
        return None
    f.seek(eocd_offset - _LOCATOR.size)
    loc = f.read(_LOCATOR.size)
    if len(loc) != _LOCATOR.size or not loc.startswith(EOCD64_LOCATOR_SIG):
        return None
        # The record sits right before the locator; trust the position over the stored offset
    # (as zipfile does) so a prefixed archive still reads.
    pos = eocd_offset - _LOCATOR.size - _EOCD64.size
    if pos < 0:
        raise MalformedError("zip64 end-of-central-directory locator points before the file start")
    f.seek(pos)
    rec = f.read(_EOCD64.size)
    if len(rec) != _EOCD64.size or not rec.startswith(EOCD64_SIG):
        raise MalformedError("zip64 end-of-central-directory record missing")
    fields = _EOCD64.unpack(rec)
    return fields[7], fields[8], fields[9], pos


def read_directory(f: BinaryIO, file_size: int, *, max_members: int) -> ZipDirectory | None:
    """The archive's members from its central directory; None if it has no usable one."""
    found = _find_eocd(f, file_size)
    if found is None:
        return None
    eocd_offset, rec = found
    entries, cd_size, cd_offset = rec[4], rec[5], rec[6]
    eocd_end = eocd_offset + _EOCD.size + rec[7]
    record_start = eocd_offset
    z64 = _read_zip64(f, eocd_offset)
    if z64 is not None:
        entries, cd_size, cd_offset, record_start = z64
    if entries > max_members:
        raise ScanLimitError(f"archive declares {entries} members, more than the {max_members} limit")
    # Like zipfile: the central directory ends where the end records start; any difference
    # from the stored offset is data prepended to the archive.
    cd_start = record_start - cd_size
    concat = cd_start - cd_offset
    if cd_start < 0 or concat < 0:
        return None
    f.seek(cd_start)
    members: list[ZipMember] = []
    problems: list[str] = []
    pos = cd_start
    while pos < record_start:
        raw = f.read(_CENTRAL.size)
        if len(raw) < _CENTRAL.size or not raw.startswith(CENTRAL_SIG):
            problems.append(f"central directory entry {len(members)} is damaged at offset {pos}")
            break
        c = _CENTRAL.unpack(raw)
        name_len, extra_len, comment_len = c[12], c[13], c[14]
        var = f.read(name_len + extra_len + comment_len)
        if len(var) < name_len + extra_len + comment_len:
            problems.append("central directory is truncated")
            break
        flags = c[5]
        size, csize, offset = _zip64_extra(var[name_len : name_len + extra_len], c[11], c[10], c[18])
        members.append(ZipMember(
            name=_decode(var[:name_len], flags), local_name="", method=c[6], flags=flags, crc=c[9],
            compressed_size=csize, size=size, header_offset=offset + concat, data_offset=0,
            external_attr=c[17], create_system=c[2],
        ))
        if len(members) > max_members:
            raise ScanLimitError(f"archive has more than {max_members} members")
        pos += _CENTRAL.size + len(var)
    if len(members) != entries:
        problems.append(f"end record declares {entries} members, central directory holds {len(members)}")
    for m in members:
        _read_local(f, m, file_size)
    start = min([m.header_offset for m in members], default=cd_start)
    if concat:
        members += _unadjusted_readings(f, members, concat, file_size)
    return ZipDirectory(members, archive_start=start,
                        central_start=cd_start, eocd_end=eocd_end, from_central_directory=True,
                        problems=problems)


def _unadjusted_readings(f: BinaryIO, members: list[ZipMember], concat: int, file_size: int) -> list[ZipMember]:
    """Members as a reader that does not adjust for prefixed data (miniz) finds them.

    zipfile shifts every offset by the length of data prepended to the archive; miniz does
    not. When both readings land on a valid local header, a file can show one archive to
    zipfile-based tools and another to torch, so both are scanned.
    """
    aliases = []
    for m in members:
        raw = ZipMember(name=m.name, local_name="", method=m.method, flags=m.flags, crc=m.crc,
                        compressed_size=m.compressed_size, size=m.size, header_offset=m.header_offset - concat,
                        data_offset=0, external_attr=m.external_attr, create_system=m.create_system, alias=True)
        _read_local(f, raw, file_size)
        if not raw.broken:
            raw.anomalies.insert(0, f"without the {concat}-byte prefix adjustment this entry reads a different "
                                 f"local header (offset {raw.header_offset}), as torch's reader would")
            aliases.append(raw)
    return aliases


def _read_local(f: BinaryIO, m: ZipMember, file_size: int) -> None:
    """Fill in the data offset from the local header and note where it disagrees."""
    if m.header_offset + _LOCAL.size > file_size:
        m.broken = f"local header at offset {m.header_offset} is past the end of the file"
        return
    raw = read_at(f, m.header_offset, _LOCAL.size + _NAME_GUESS)
    if not raw.startswith(LOCAL_SIG):
        m.broken = f"no local header at offset {m.header_offset}"
        return
    h = _LOCAL.unpack_from(raw)
    local_flags, local_method, local_crc = h[3], h[4], h[7]
    name_len, extra_len = h[10], h[11]
    name_raw = raw[_LOCAL.size:_LOCAL.size + name_len]
    if len(name_raw) < name_len:
        name_raw = read_at(f, m.header_offset + _LOCAL.size, name_len)
    m.local_name = _decode(name_raw, local_flags)
    m.local_flags = local_flags
    m.data_offset = m.header_offset + _LOCAL.size + name_len + extra_len
    if m.local_name != m.name:
        m.anomalies.append(f"local header names it {m.local_name!r}, central directory {m.name!r}")
    if local_method != m.method:
        m.anomalies.append(f"local header says compression {local_method}, central directory {m.method}")
    # Writers may set the descriptor and UTF-8 bits in one header only; other bits must agree.
    if (local_flags ^ m.flags) & ~(FLAG_DATA_DESCRIPTOR | FLAG_UTF8) & 0xFFFF:
        m.anomalies.append(f"flag bits differ: local {local_flags:#06x}, central {m.flags:#06x}")
    if not local_flags & FLAG_DATA_DESCRIPTOR and local_crc != m.crc:
        m.anomalies.append("local and central CRC-32 differ")
    if (m.flags | local_flags) & ~ORDINARY_FLAGS & 0xFFFF:
        m.anomalies.append(f"unusual flag bits {(m.flags | local_flags):#06x}")
    if m.method == STORED and m.size != m.compressed_size:
        m.anomalies.append(f"stored member claims {m.size} bytes but holds {m.compressed_size}")
    if m.end > file_size:
        m.broken = f"data runs past the end of the file ({m.end} > {file_size})"


def _find_descriptor(f: BinaryIO, data_offset: int, file_size: int) -> int | None:
    """Length of a stored member's data, from the first data descriptor that agrees with it."""
    pos = data_offset
    carry = b""
    while pos < file_size:
        f.seek(pos)
        block = carry + f.read(1 << 20)
        base = pos - len(carry)
        if len(block) <= len(carry):
            return None
        i = block.find(b"PK\x07\x08")
        while i >= 0:
            length = base + i - data_offset
            head = block[i + 8 : i + 24]
            if len(head) >= 8 and (struct.unpack_from("<L", head)[0] == length or
                                   (len(head) >= 16 and struct.unpack_from("<Q", head)[0] == length)):
                return length
            i = block.find(b"PK\x07\x08", i + 1)
        carry = block[-23:]
        pos = base + len(block)
    return None


def walk_local_headers(f: BinaryIO, file_size: int, *, start: int, max_members: int) -> ZipDirectory:
    """Members found by walking local headers forward from ``start`` (no central directory).

    Only members whose compressed size is in the local header can be walked past; a member
    using a data descriptor with no size stops the walk (reported as a problem).
    """
    members: list[ZipMember] = []
    problems: list[str] = []
    pos = start
    while pos + _LOCAL.size <= file_size:
        f.seek(pos)
        raw = f.read(_LOCAL.size)
        if not raw.startswith(LOCAL_SIG):
            break
        h = _LOCAL.unpack(raw)
        flags, method, crc, csize, size, name_len, extra_len = h[3], h[4], h[7], h[8], h[9], h[10], h[11]
        name_raw = f.read(name_len)
        extra = f.read(extra_len)
        size, csize, _ = _zip64_extra(extra, size, csize, 0)
        name = _decode(name_raw, flags)
        m = ZipMember(name=name, local_name=name, method=method, flags=flags, local_flags=flags, crc=crc,
                      compressed_size=csize,
                      size=size, header_offset=pos, data_offset=pos + _LOCAL.size + name_len + extra_len)
        members.append(m)
        if len(members) > max_members:
            raise ScanLimitError(f"archive has more than {max_members} members")
        if flags & FLAG_DATA_DESCRIPTOR and csize == 0:
            # torch's writer streams members: sizes only in the descriptor after the data.
            found = _find_descriptor(f, m.data_offset, file_size) if method == STORED else None
            if found is None:
                m.broken = "member size is only in a data descriptor and the central directory is missing"
                problems.append(m.broken)
                break
            m.compressed_size = m.size = found
        if m.end > file_size:
            m.broken = f"data runs past the end of the file ({m.end} > {file_size})"
            break
        pos = m.end
        if flags & FLAG_DATA_DESCRIPTOR:
            f.seek(pos)
            desc = f.read(24)
            sig = 4 if desc.startswith(b"PK\x07\x08") else 0
            # zip64 descriptors carry 8-byte sizes: a local header follows one or the other.
            pos += sig + (20 if desc[sig + 20 : sig + 24] == LOCAL_SIG else 12)
    return ZipDirectory(members, archive_start=start, central_start=pos, eocd_end=pos,
                        from_central_directory=False, problems=problems)


def concatenated_archives(f: BinaryIO, file_size: int, *, max_members: int, max_archives: int) -> list[int] | None:
    """Where each archive starts, for a file that is complete zip archives back to back and nothing
    else (a ``torch.distributed.checkpoint`` shard: one ``torch.save`` record per item); None otherwise.

    Walks local headers, then the central directory entries and end records of each archive, so only
    structure is read. Each archive must end exactly where the next one's first local header starts.
    """
    starts: list[int] = []
    pos = 0
    while pos < file_size:
        if len(starts) >= max_archives or read_at(f, pos, 4) != LOCAL_SIG:
            return None
        walked = walk_local_headers(f, file_size, start=pos, max_members=max_members)
        if walked.problems or not walked.members:
            return None
        end = _end_of_directory(f, walked.central_start, file_size, len(walked.members))
        if end is None:
            return None
        starts.append(pos)
        pos = end
    return starts if len(starts) > 1 else None


def _end_of_directory(f: BinaryIO, pos: int, file_size: int, members: int) -> int | None:
    """The offset after the central directory and end records that start at ``pos``."""
    for _ in range(members):
        raw = read_at(f, pos, _CENTRAL.size)
        if len(raw) < _CENTRAL.size or not raw.startswith(CENTRAL_SIG):
            return None
        c = _CENTRAL.unpack(raw)
        pos += _CENTRAL.size + c[12] + c[13] + c[14]
    head = read_at(f, pos, 4)
    if head == EOCD64_SIG:
        raw = read_at(f, pos, _EOCD64.size)
        if len(raw) < _EOCD64.size:
            return None
        pos += 12 + _EOCD64.unpack(raw)[1]  # the record's size field counts what follows it
        if read_at(f, pos, 4) != EOCD64_LOCATOR_SIG:
            return None
        pos += _LOCATOR.size
        head = read_at(f, pos, 4)
    raw = read_at(f, pos, _EOCD.size)
    if head != EOCD_SIG or len(raw) < _EOCD.size:
        return None
    rec = _EOCD.unpack(raw)
    if rec[4] != members:
        return None
    end = pos + _EOCD.size + rec[7]
    return end if end <= file_size else None
