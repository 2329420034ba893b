"""Builders for container fixtures: raw zip bytes (tamperable), torch layouts, pickle opcodes.

Everything is written from bytes, never by loading anything. Payloads are harmless
(``os.system("echo pwned")`` as opcodes that are never executed).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.scan.detect import TORCH_LEGACY_MAGIC

# ---- pickle opcodes (protocol 2) ------------------------------------------------------------

MALICIOUS_PICKLE = b"\x80\x02cos\nsystem\nq\x00X\n\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."
"""os.system("echo pwned") on load"""


def s(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def k(n: int) -> bytes:
    return b"K" + bytes([n]) if n < 256 else b"M" + struct.pack("<H", n)


def glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def tup(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def tensor(key: str, numel: int, *, legacy: bool, storage: str = "FloatStorage") -> bytes:
    """torch._utils._rebuild_tensor_v2(<persistent storage>, 0, (numel,), (1,), False, OrderedDict())"""
    pid = [s("storage"), glob("torch", storage), s(key), s("cpu"), k(numel)]
    if legacy:
        pid.append(b"N")  # view metadata
    return (glob("torch._utils", "_rebuild_tensor_v2")
            + tup(tup(*pid) + b"Q", k(0), tup(k(numel)), tup(k(1)), b"\x89",
                  glob("collections", "OrderedDict") + b")R")
            + b"R")


def state_dict(tensors: dict[str, tuple[str, int]], *, legacy: bool) -> bytes:
    """A protocol-2 pickle of OrderedDict(name -> tensor) as torch.save writes it."""
    body = b"".join(s(name) + tensor(key, n, legacy=legacy) + b"s" for name, (key, n) in tensors.items())
    return b"\x80\x02" + glob("collections", "OrderedDict") + b")R" + body + b"."


def plain(value: object) -> bytes:
    """A protocol-2 pickle of a list of str / an int (the simple pickles of torch layouts)."""
    if isinstance(value, list):
        return b"\x80\x02]" + (b"(" + b"".join(s(v) for v in value) + b"e" if value else b"") + b"."
    assert isinstance(value, int)
    return b"\x80\x02" + (k(value) if value < 65536 else b"\x8a" + _long(value)) + b"."


def _long(n: int) -> bytes:
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return bytes([len(raw)]) + raw


# ---- zip ------------------------------------------------------------------------------------

@dataclass
class Entry:
    name: str
    data: bytes
    method: int = 0
    local_name: str | None = None
    flags: int = 0
    central_flags: int | None = None
    crc: int | None = None
    declared_size: int | None = None
    align: int = 64
    create_system: int = 0
    external_attr: int = 0
    descriptor: bool = False
    """stream the member as torch's writer does: flags 0x0808, zero CRC and sizes in the local
    header, a PK\\x07\\x08 data descriptor after the data"""


def build_zip(entries: list[Entry], *, prefix: bytes = b"", central: bool = True, suffix: bytes = b"") -> bytes:
    """A zip written byte by byte, like torch's writer (stored, 64-byte aligned data), with
    every header field open to tampering. Offsets are relative to the archive start, so a
    prefix makes the archive a 'concatenated' zip as zipfile reads it."""
    out = bytearray()
    cd = bytearray()
    for e in entries:
        payload = e.data if e.method == 0 else _deflate(e.data)
        crc = zlib.crc32(e.data) if e.crc is None else e.crc
        size = len(e.data) if e.declared_size is None else e.declared_size
        lname = (e.local_name if e.local_name is not None else e.name).encode()
        offset = len(out)
        pad = 0
        if e.align:
            base = len(prefix) + offset + 30 + len(lname) + 4
            pad = (-base) % e.align
        extra = struct.pack("<2H", 0x4246, pad) + b"Z" * pad if e.align else b""
        flags = e.flags | (0x0808 if e.descriptor else 0)
        lcrc, lcsize, lsize = (0, 0, 0) if e.descriptor else (crc, len(payload), size)
        out += struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, flags, e.method, 0, 0x21, lcrc,
                           lcsize, lsize, len(lname), len(extra)) + lname + extra + payload
        if e.descriptor:
            out += struct.pack("<4s3L", b"PK\x07\x08", crc, len(payload), size)
        cname = e.name.encode()
        cflags = flags if e.central_flags is None else e.central_flags
        cd += struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, e.create_system, 20, 0, cflags, e.method, 0, 0x21,
                          crc, len(payload), size, len(cname), 0, 0, 0, 0, e.external_attr, offset) + cname
    if not central:
        return prefix + bytes(out) + suffix
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(cd), len(out), 0)
    return prefix + bytes(out) + bytes(cd) + eocd + suffix


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def torch_zip_entries(data_pkl: bytes | None = None, *, extra: list[Entry] | None = None) -> list[Entry]:
    """The members of ``torch.save(state_dict, f)`` (torch 2.x) in the order torch writes them."""
    weights = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)
    pkl = data_pkl if data_pkl is not None else state_dict({"weight": ("0", 4)}, legacy=False)
    return [
        Entry("archive/data.pkl", pkl, descriptor=True),
        Entry("archive/.format_version", b"1", descriptor=True),
        Entry("archive/.storage_alignment", b"64", descriptor=True),
        Entry("archive/byteorder", b"little", descriptor=True),
        Entry("archive/data/0", weights, descriptor=True),
        *(extra or []),
        Entry("archive/version", b"3\n", descriptor=True),
        Entry("archive/.data/serialization_id", b"1234567890123456789012345678901234567890", descriptor=True),
    ]


def torch_zip(data_pkl: bytes | None = None, **kw: object) -> bytes:
    return build_zip(torch_zip_entries(data_pkl, extra=kw.pop("extra", None)), **kw)  # type: ignore[arg-type]


# ---- torch legacy ---------------------------------------------------------------------------

SYS_INFO = (b"\x80\x02}(" + s("protocol_version") + b"M\xe9\x03" + s("little_endian") + b"\x88"
            + s("type_sizes") + b"}(" + s("short") + k(2) + s("int") + k(4) + s("long") + k(4) + b"uu.")


def legacy_torch(obj: bytes | None = None, *, keys: list[str] | None = None,
                 storages: list[bytes] | None = None, suffix: bytes = b"") -> bytes:
    """``torch.save(sd, f, _use_new_zipfile_serialization=False)``: five pickles, then storages."""
    obj = obj if obj is not None else state_dict({"weight": ("0", 4)}, legacy=True)
    keys = keys if keys is not None else ["0"]
    if storages is None:
        storages = [struct.pack("<q", 4) + struct.pack("<4f", 1, 2, 3, 4)]
    return (TORCH_LEGACY_MAGIC + plain(1001) + SYS_INFO + obj + plain(keys) + b"".join(storages) + suffix)


# ---- running the CLI ------------------------------------------------------------------------

def scan_json(path: Path, capsys: object) -> tuple[int, dict[str, object]]:
    """Exit code and the file's JSON report entry from ``modelguard scan --format json``."""
    code = run(["scan", "--format", "json", str(path)])
    doc = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    return code, doc["files"][0]


def rules_of(entry: dict[str, object]) -> set[str]:
    return {f["rule"] for f in entry["findings"]}  # type: ignore[attr-defined, index]


@dataclass
class Scanned:
    """One file's result as ``modelguard scan --format json`` reported it."""

    code: int
    verdict: str
    format: str
    rules: set[str]
    messages: list[str]
    locations: list[str]


@pytest.fixture
def scan_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Callable[[bytes, str], Scanned]:
    """Write ``data`` as ``name`` and scan it through the CLI; the exit code must match the
    verdict (every container rule is at or above the default fail-on of medium)."""
    def scan(data: bytes, name: str) -> Scanned:
        path = tmp_path / name
        path.write_bytes(data)
        code, entry = scan_json(path, capsys)
        findings: list[dict[str, str]] = entry["findings"]  # type: ignore[assignment]
        result = Scanned(code, str(entry["verdict"]), str(entry["format"]), {f["rule"] for f in findings},
                         [f["message"] for f in findings], [f["location"] for f in findings])
        assert code == (0 if result.verdict == "clean" else 1), result
        return result

    return scan
