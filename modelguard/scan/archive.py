"""tar (and, through :mod:`modelguard.scan.compressed`, tar.gz/bz2/xz) and 7z archives.

Every regular member is scanned by content through ``ctx.nested`` (tar members as windows
over the archive, nothing copied; 7z members decompressed into spools under the context's
limits). Names that escape the extraction folder, links and special files are findings; a
tar laid out as torch's legacy tar checkpoint (``sys_info``, ``pickle``, ``storages``,
``tensors``) is framed by :mod:`modelguard.scan.torch_legacy` instead.

Must not: extract to disk, follow links, or read tar member data except through the nested
scanners.
"""

from __future__ import annotations

import lzma
import struct
import tarfile
import tempfile
import zlib
from typing import IO

import py7zr
import py7zr.io

from modelguard.models import Finding, Format
from modelguard.report.rules import finding
from modelguard.scan.base import Outcome, ScanContext, ScanLimitError, Source
from modelguard.scan.streams import (
    SPOOL_IN_MEMORY,
    SpoolSource,
    WindowSource,
    bounded,
    budget_spent,
    scan_nested,
    unsafe_member_name,
)

_TORCH_TAR = {"pickle", "storages", "tensors"}


def scan(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return _scan_7z(ctx, source)
    return _scan_tar(ctx, source, head)


def _scan_tar(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    findings: list[Finding] = []
    if head[:1] == b"\x80":
        # The first header is also a pickle: torch.load reads the tar, pickle.load the pickle.
        from modelguard.scan.pickle import scanner as pickle_scanner

        findings.append(finding("MG-S202", "the tar header is also a pickle (polyglot)", location=source.name))
        findings += pickle_scanner.scan(ctx, source, head).findings
    members: list[tarfile.TarInfo] = []
    with bounded(source) as f:
        try:
            tar = tarfile.open(fileobj=f, mode="r:")
            try:
                while True:
                    info = tar.next()
                    if info is None:
                        break
                    members.append(info)
                    if len(members) > ctx.limits.max_members:
                        raise ScanLimitError(f"archive has more than {ctx.limits.max_members} members", source.name)
            finally:
                tar.close()
        except (tarfile.TarError, EOFError, UnicodeError) as e:
            findings.append(finding("MG-S001", f"tar archive is damaged or truncated: {e}", location=source.name))
    names = {m.name for m in members if m.isfile()}
    torch_layout = _TORCH_TAR <= names
    torch_members: dict[str, tuple[int, int]] = {}
    if torch_layout:
        # tarfile.getmember, which torch uses, returns the last member of a name.
        for m in members:
            if m.isfile() and m.name in _TORCH_TAR | {"sys_info"}:
                torch_members[m.name] = (m.offset_data, m.size)
        from modelguard.scan.torch_legacy import scan_tar_layout

        scan_tar_layout(ctx, source, torch_members, findings)
    for m in members:
        if budget_spent(ctx):
            break
        where = f"{source.name}!{m.name}"
        if unsafe_member_name(m.name):
            findings.append(finding("MG-S204", f"member name {m.name!r} escapes the extraction folder",
                                    location=where))
        if m.issym() or m.islnk():
            kind = "symbolic link" if m.issym() else "hard link"
            findings.append(finding("MG-S205", f"{kind} to {m.linkname!r}", location=where))
            continue
        if m.isdir():
            continue
        if not m.isfile():
            findings.append(finding("MG-S205", "special file (device, fifo or sparse) not scanned", location=where))
            continue
        if torch_members.get(m.name) == (m.offset_data, m.size):
            continue  # framed above as the loader reads it
        if m.offset_data + m.size > source.size:
            findings.append(finding("MG-S001", "member data runs past the end of the archive", location=where))
            continue
        scan_nested(ctx, WindowSource(source, m.offset_data, m.size, where), findings)
    fmt = Format.PYTORCH_TAR if torch_layout else Format.TAR
    return Outcome(fmt.value, findings)


class _BudgetSpool(py7zr.io.Py7zIO):
    """A py7zr writer that spools one member and charges every byte to the budget."""

    def __init__(self, ctx: ScanContext, name: str, cap: int) -> None:
        self.ctx = ctx
        self.name = name
        self.cap = cap
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        self.written = 0

    def write(self, s: bytes | bytearray) -> int:
        self.written += len(s)
        if self.written > self.cap:
            raise ScanLimitError("7z member decompresses beyond the ratio limit (decompression bomb?)", self.name)
        self.ctx.charge_expansion(len(s), self.name)
        return self.file.write(s)

    def read(self, size: int | None = None) -> bytes:
        return self.file.read(-1 if size is None else size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def flush(self) -> None:
        self.file.flush()

    def size(self) -> int:
        return self.written

    def close(self) -> None:
        """py7zr calls this when the member is complete; the spool stays open for scanning."""


def _scan_7z(ctx: ScanContext, source: Source) -> Outcome:
    findings: list[Finding] = []
    spools: list[_BudgetSpool] = []
    cap = max(source.size, 1) * ctx.limits.max_ratio

    class Factory(py7zr.io.WriterFactory):
        def create(self, filename: str) -> py7zr.io.Py7zIO:
            spool = _BudgetSpool(ctx, f"{source.name}!{filename}", cap)
            spools.append(spool)
            return spool

    # py7zr reports malformed input with its own errors, the codecs' errors, and (from
    # half-parsed headers) attribute, type, lookup and assertion errors: each means "cannot be read",
    # which is an unscannable finding, never a pass. Our own code in this block is only
    # the spool, whose limit error is handled first.
    errors = (py7zr.exceptions.ArchiveError, py7zr.exceptions.PasswordRequired, py7zr.exceptions.AbsolutePathError,
              lzma.LZMAError, zlib.error, EOFError, OSError, ValueError, KeyError, IndexError, struct.error,
              AttributeError, TypeError, OverflowError, NotImplementedError, AssertionError)
    try:
        with bounded(source) as f, py7zr.SevenZipFile(f, mode="r") as archive:
            entries = archive.list()
            if len(entries) > ctx.limits.max_members:
                raise ScanLimitError(f"archive has more than {ctx.limits.max_members} members", source.name)
            declared = sum(e.uncompressed or 0 for e in entries)
            if declared > cap:
                raise ScanLimitError(f"members claim {declared} bytes from {source.size} (decompression bomb?)",
                                     source.name)
            for e in entries:
                where = f"{source.name}!{e.filename}"
                if unsafe_member_name(e.filename):
                    findings.append(finding("MG-S204", f"member name {e.filename!r} escapes the extraction folder",
                                            location=where))
                if e.is_symlink:
                    findings.append(finding("MG-S205", "symbolic link", location=where))
            if archive.needs_password():
                findings.append(finding("MG-S203", "7z archive is encrypted", location=source.name))
                return Outcome(Format.SEVENZ.value, findings)
            archive.extract(factory=Factory())
    except ScanLimitError as e:
        findings.append(finding("MG-S003", str(e), location=e.location or source.name))
    except errors as e:
        findings.append(finding("MG-S001", f"7z archive is damaged or unsupported: {e}", location=source.name))
    for spool in spools:
        member = SpoolSource(spool.file, spool.written, spool.name)
        try:
            if not budget_spent(ctx):
                scan_nested(ctx, member, findings)
        finally:
            member.close()
    return Outcome(Format.SEVENZ.value, findings)
