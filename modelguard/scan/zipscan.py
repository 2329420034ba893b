"""Zip archives as loaders read them: pytorch-zip, torchscript, npz, keras and plain zip.

Structure comes from :mod:`modelguard.scan.zipread` (tolerant, miniz-like), never from
``zipfile``. Every member is scanned by content through ``ctx.nested`` (so a pickle under
any name or folder reaches the pickle scanner), except tensor storages of torch archives:
torch reads ``<archive>/data/<key>`` as raw bytes, so they are bounds-checked, never parsed.
Bytes before the archive (a polyglot: ``torch.load`` runs a prefix pickle when the file does
not start with a local header), between members or after the end record are scanned by
content too and reported.

Must not: read tensor data, decompress without the context's limits, or let one member's
limit hit hide the findings of the others.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from typing import BinaryIO

from modelguard.models import Finding, Format
from modelguard.report.rules import finding
from modelguard.scan.base import BytesSource, MalformedError, Outcome, ScanContext, ScanLimitError, Source
from modelguard.scan.streams import (
    Decompressor,
    WindowSource,
    beyond_findings,
    bounded,
    budget_spent,
    chunks,
    read_at,
    scan_nested,
    spool,
    unsafe_member_name,
    zlib_decompressor,
)
from modelguard.scan.zipread import (
    BZIP2,
    DEFLATED,
    FLAG_ENCRYPTED,
    LOCAL_SIG,
    STORED,
    ZipDirectory,
    ZipMember,
    concatenated_archives,
    read_directory,
    walk_local_headers,
)

_TORCH_STORAGE = re.compile(r"^[^/]+/(data|constants)/[^/]+$")
# torch.export .pt2: weights and constants are raw tensor bytes (torch.load(weights_only=True) when
# model_weights_config.json says use_pickle), beside JSON configs.
_PT2_TENSOR = re.compile(r"^[^/]+/data/(weights|constants)/[^/]+$")
# TorchScript source: compiled by torch.jit.load, never imported by Python (see torchscript_code).
_TORCHSCRIPT_CODE = re.compile(r"^[^/]+/code/.+\.py$")
_CRC_CHECK_MAX = 64 << 20
"""stored members up to this size get their CRC-32 checked (bigger ones are tensor-sized)"""
_READ_ONCE_MAX = 1 << 20
"""stored members up to this size are read into memory once (configs, pickles), not re-opened per check"""
_DESCRIPTOR_MAX = 24
"""a data descriptor after a member's data: signature, CRC-32 and two zip64 sizes"""


def classify(names: list[str]) -> Format:
    """The zip's flavour from its member names (the layout each writer produces)."""
    if any(n.endswith("/constants.pkl") or n == "constants.pkl" for n in names) and any(
        "/code/" in n or n.startswith("code/") for n in names
    ):
        return Format.TORCHSCRIPT
    if any(_top_level(n, "data.pkl") for n in names) and any(
        _top_level(n, "version") or _top_level(n, ".data/version") or _TORCH_STORAGE.match(n) for n in names
    ):
        return Format.PYTORCH_ZIP
    if any(_top_level(n, "archive_format") for n in names):
        return Format.PYTORCH_EXPORT
    files = [n for n in names if not n.endswith("/")]
    if files and all(n.endswith(".npy") for n in files):
        return Format.NPZ
    if "config.json" in names and ("metadata.json" in names or "model.weights.h5" in names):
        return Format.KERAS
    return Format.ZIP


def _top_level(name: str, tail: str) -> bool:
    """``name`` is ``tail`` or ``<one folder>/tail`` (where torch.save puts its records)."""
    folder, _, rest = name.partition("/")
    return name == tail or (bool(folder) and rest == tail)


def _looks_like_pickle(head: bytes) -> bool:
    return head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5


_MAX_ARCHIVES = 100_000
"""archives in one concatenation (a DCP shard holds one per state-dict item of a rank)"""


def scan(ctx: ScanContext, source: Source, head: bytes, *, prefix: str = "") -> Outcome:
    """``prefix``: what the bytes before the archive are, when a format puts them there on purpose
    (a TFLite model before its associated files): the caller's scanner has checked them, and the
    engine has read them as ``pickle.load`` would, so they are neither reported nor rescanned."""
    limit = ctx.limits.max_members
    with bounded(source) as f:
        directory = read_directory(f, source.size, max_members=limit)
        if directory is not None and directory.archive_start > 0 and head.startswith(LOCAL_SIG):
            starts = concatenated_archives(f, source.size, max_members=limit, max_archives=_MAX_ARCHIVES)
            if starts is not None:
                return _scan_concatenated(ctx, source, starts)
        if directory is None or (not directory.members and head.startswith(LOCAL_SIG)):
            if head.startswith(LOCAL_SIG):
                directory = walk_local_headers(f, source.size, start=0, max_members=limit)
            elif _looks_like_pickle(head):
                # Routed here only because an end-record signature sits in its tail: a pickle.
                from modelguard.scan.pickle import scanner as pickle_scanner

                return pickle_scanner.scan(ctx, source, head)
            else:
                raise MalformedError("no end-of-central-directory record: not a zip, or truncated", source.name)
        findings: list[Finding] = []
        if not directory.from_central_directory:
            findings.append(finding(
                "MG-S001", "zip has no usable central directory (truncated?); members recovered from local headers",
                location=source.name))
        findings += [finding("MG-S001", p, location=source.name) for p in directory.problems]
        fmt = classify([m.name for m in directory.members])
        _scan_outside(ctx, source, directory, findings, prefix)
        names = Counter(m.name for m in directory.members if not m.alias)
        for dup in sorted(n for n, c in names.items() if c > 1):
            findings.append(finding("MG-S201", f"member name {dup!r} appears {names[dup]} times; "
                                    "readers disagree on which one they load", location=source.name))
        for member in directory.members:
            if budget_spent(ctx):
                break
            _scan_member(ctx, source, f, member, fmt, findings)
    return Outcome(fmt.value, findings)


def _scan_concatenated(ctx: ScanContext, source: Source, starts: list[int]) -> Outcome:
    """Complete archives back to back (``torch.distributed.checkpoint`` ``.distcp`` shards: one
    ``torch.save`` record per item, read back by offset and length): each archive is scanned as
    the file it is, so nothing lies outside an archive and no byte is left unscanned."""
    findings: list[Finding] = []
    formats = set()
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else source.size
        archive = WindowSource(source, start, end - start, f"{source.name}@archive {i} (offset {start})")
        with archive.open() as af:
            outcome = scan(ctx, archive, read_at(af, 0, 4))
        formats.add(outcome.format)
        findings += outcome.findings
        if budget_spent(ctx):
            break
    fmt = "pytorch-dcp-shard" if formats == {Format.PYTORCH_ZIP.value} else "zip-sequence"
    return Outcome(fmt, findings)


def _scan_outside(ctx: ScanContext, source: Source, directory: ZipDirectory, findings: list[Finding],
                  prefix: str = "") -> None:
    """Report and scan by content every byte range no member accounts for (except a prefix the
    caller has checked as its own format)."""
    gaps: list[tuple[int, int, str]] = []
    if directory.archive_start > 0:
        gaps.append((0, directory.archive_start, "before the archive"))
    pos, slack = directory.archive_start, 0
    for m in sorted((m for m in directory.members if not m.broken and not m.alias), key=lambda m: m.header_offset):
        if m.header_offset > pos + slack:
            gaps.append((pos, m.header_offset, "between members"))
        if m.end > pos:
            pos, slack = m.end, (_DESCRIPTOR_MAX if m.has_descriptor else 0)
    if directory.from_central_directory and directory.central_start > pos + slack:
        gaps.append((pos, directory.central_start, "between the last member and the central directory"))
    if directory.from_central_directory and directory.eocd_end < source.size:
        gaps.append((directory.eocd_end, source.size, "after the end of the archive"))
    for start, end, where in gaps:
        if prefix and start == 0:
            continue  # the caller's own format, already checked by its scanner
        name = f"{source.name}!<{end - start} bytes at offset {start}>"
        findings.append(finding("MG-S202", f"{end - start} bytes {where} (offset {start})", location=source.name))
        scan_nested(ctx, WindowSource(source, start, end - start, name), findings)


def _scan_member(ctx: ScanContext, source: Source, f: BinaryIO, m: ZipMember, fmt: Format,
                 findings: list[Finding]) -> None:
    where = f"{source.name}!{m.name}" + (f"@offset {m.header_offset}" if m.alias else "")
    if m.anomalies:
        findings.append(finding("MG-S201", "; ".join(m.anomalies), location=where))
    for name in {m.name, m.local_name} - {""}:
        if unsafe_member_name(name):
            findings.append(finding("MG-S204", f"member name {name!r} escapes the extraction folder", location=where))
    if m.is_symlink:
        findings.append(finding("MG-S205", "member is a symbolic link", location=where))
        return
    if m.broken:
        findings.append(finding("MG-S001", m.broken, location=where))
        return
    if m.is_dir:
        return
    if fmt in (Format.PYTORCH_ZIP, Format.TORCHSCRIPT) and all(
        _TORCH_STORAGE.match(n) for n in {m.name, m.local_name} - {""}
    ):
        return  # tensor storage: torch reads raw bytes; bounds already checked
    if m.flags & FLAG_ENCRYPTED:
        findings.append(finding("MG-S203", "member is encrypted", location=where))
    if m.method == STORED:
        member: Source
        if m.compressed_size <= _READ_ONCE_MAX:
            # Read once through the archive's open file: the CRC and every check after it share it.
            member = BytesSource(read_at(f, m.data_offset, m.compressed_size), where)
        else:
            member = WindowSource(source, m.data_offset, m.compressed_size, where)
        # torch.serialization.set_crc32_options(False) writes 0 for every CRC-32; that is a
        # documented torch option, not tampering.
        unset_torch_crc = m.crc == 0 and fmt in (Format.PYTORCH_ZIP, Format.TORCHSCRIPT)
        if m.compressed_size <= _CRC_CHECK_MAX and not m.flags & FLAG_ENCRYPTED and not unset_torch_crc:
            crc = 0
            with member.open() as mf:
                for block in chunks(mf):
                    crc = zlib.crc32(block, crc)
            if crc != m.crc:
                findings.append(finding("MG-S201", f"CRC-32 mismatch (stored {m.crc:#010x}, actual {crc:#010x})",
                                        location=where))
        _scan_content(ctx, member, m.name, fmt, findings)
        return
    if m.method not in (DEFLATED, BZIP2):
        findings.append(finding("MG-S203", f"compression method {m.method} is not supported", location=where))
        return
    _scan_compressed_member(ctx, source, f, m, where, fmt, findings)


def _scan_content(ctx: ScanContext, member: Source, name: str, fmt: Format, findings: list[Finding]) -> None:
    """Scan one member's bytes the way its archive's loader reads them."""
    if fmt is Format.PYTORCH_EXPORT and _PT2_TENSOR.match(name) and _raw_tensor_bytes(member):
        return
    if fmt is Format.TORCHSCRIPT and _TORCHSCRIPT_CODE.match(name):
        _review_torchscript(ctx, member, findings)
        return
    scan_nested(ctx, member, findings)


def _review_torchscript(ctx: ScanContext, member: Source, findings: list[Finding]) -> None:
    from modelguard.scan import torchscript_code

    try:
        findings.extend(torchscript_code.review(ctx, member))
    except ScanLimitError as e:
        findings.append(finding("MG-S003", str(e), location=e.location or member.name))


def _raw_tensor_bytes(member: Source) -> bool:
    """Neither a recognised format nor a pickle: bytes a loader maps as a tensor, never parses."""
    from modelguard.scan import _probe_pickle, _read_head_tail
    from modelguard.scan.detect import detect

    head, tail = _read_head_tail(member)
    return detect(head, tail, member.size, member.name) is Format.UNKNOWN and not _probe_pickle(member)


def _decompressor(method: int) -> Decompressor:
    if method == DEFLATED:
        return zlib_decompressor(-15)
    import bz2

    d = bz2.BZ2Decompressor()
    return Decompressor(lambda data, n: d.decompress(data, n), eof=lambda: d.eof, unused=lambda: d.unused_data,
                        pending=lambda: not d.needs_input and not d.eof)


def _scan_compressed_member(ctx: ScanContext, source: Source, f: BinaryIO, m: ZipMember, where: str, fmt: Format,
                            findings: list[Finding]) -> None:
    if m.size > max(m.compressed_size, 1) * ctx.limits.max_ratio:
        findings.append(finding("MG-S003", f"member claims {m.size} bytes from {m.compressed_size} compressed "
                                "(decompression bomb?)", location=where))
        return
    f.seek(m.data_offset)
    try:
        result = spool(ctx, chunks(f, m.compressed_size), _decompressor(m.method),
                       compressed_size=m.compressed_size, name=where, errors=(zlib.error, OSError, EOFError))
    except ScanLimitError as e:
        findings.append(finding("MG-S003", str(e), location=e.location or where))
        return
    try:
        findings += beyond_findings(result, "the member", where, ctx.limits.max_ratio)
        if result.error:
            findings.append(finding("MG-S001", f"member does not decompress: {result.error}", location=where))
        elif not result.complete and result.beyond is None:
            findings.append(finding("MG-S001", "compressed member is truncated", location=where))
        problems = []
        if result.beyond is not None:
            pass  # its size and CRC cover bytes that were not stored
        elif result.source.size != m.size:
            problems.append(f"decompresses to {result.source.size} bytes, headers claim {m.size}")
        if result.beyond is None and result.crc != m.crc:
            problems.append(f"CRC-32 mismatch (stored {m.crc:#010x}, actual {result.crc:#010x})")
        if problems:
            findings.append(finding("MG-S201", "; ".join(problems), location=where))
        _scan_content(ctx, result.source, m.name, fmt, findings)
    finally:
        result.source.close()
