"""safetensors: validate the header framing, never the tensor data.

Owns the checks ``safetensors`` itself makes before it hands out a tensor: an 8-byte
little-endian header length that fits the file (and the library's 100 MB cap), a UTF-8 JSON
object without duplicate keys padded with spaces only, ``__metadata__`` mapping strings to
strings, and tensor entries whose dtype, shape and byte ranges agree and tile the data
section exactly.

Validation is done by hand rather than through ``safetensors.safe_open``: the library mmaps
the whole file and reports the first problem as an opaque string, while this module reads
only ``8 + header`` bytes and reports each defect with its own rule and location.
Must not read tensor data.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.scan.base import Outcome, ScanContext, Source

MAX_HEADER_BYTES = 100_000_000
"""safetensors refuses headers above this (``MAX_HEADER_SIZE`` in its Rust source)."""

# Bits per element, the list accepted by safetensors 0.8 (checked against its own error text).
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8,
    "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
    "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}

_TENSOR_KEYS = frozenset({"dtype", "shape", "data_offsets"})
_MAX_REPORTED = 20
"""A crafted header can hold millions of bad entries; report the first few of each kind."""


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity; serde_json (what safetensors uses) does not.
    raise ValueError(f"non-standard JSON constant {name}")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def scan(ctx: ScanContext, source: Source, head: bytes) -> Outcome:
    """Validate the header of a safetensors file."""
    return Outcome("safetensors", check_header(source, nested=ctx.depth > 0))


def check_header(source: Source, *, nested: bool = False) -> list[Finding]:
    """Findings for the header of ``source``; locations name the member when ``nested``."""
    loc = f"{source.name}@" if nested else ""
    if source.size < 8:
        return [finding("MG-S401", "file is shorter than the 8-byte header length", location=f"{loc}offset 0")]
    with source.open() as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > MAX_HEADER_BYTES:
            return [finding("MG-S401", f"claimed header length {n} exceeds safetensors' {MAX_HEADER_BYTES}-byte limit",
                            location=f"{loc}offset 0")]
        if n > source.size - 8:
            return [finding("MG-S401", f"claimed header length {n} is longer than the {source.size - 8} bytes after it",
                            location=f"{loc}offset 0")]
        raw = f.read(n)
    if len(raw) != n:
        return [finding("MG-S401", "file ended inside the header", location=f"{loc}offset 8")]
    return _check_json(raw, data_len=source.size - 8 - n, loc=loc)


def _check_json(raw: bytes, *, data_len: int, loc: str) -> list[Finding]:
    hloc = f"{loc}header"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return [finding("MG-S402", f"header is not UTF-8 (byte {e.start})", location=hloc)]
    stripped = text.rstrip(" ")
    if not stripped.startswith("{"):
        return [finding("MG-S402", "header does not start with a JSON object", location=hloc)]
    try:
        obj, end = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant).raw_decode(
            stripped
        )
    except _DuplicateKey as e:
        return [finding("MG-S402", f"duplicate key {e.key!r} in header (a loader keeps only one of them)",
                        location=hloc)]
    except (ValueError, RecursionError) as e:
        return [finding("MG-S402", f"header is not valid JSON: {e}", location=hloc)]
    if end != len(stripped):
        return [finding("MG-S402", f"header has non-space bytes after the JSON object (at {end})", location=hloc)]
    if not isinstance(obj, dict):  # pragma: no cover - guarded by the '{' check
        return [finding("MG-S402", "header is not a JSON object", location=hloc)]
    return _check_entries(obj, data_len=data_len, loc=hloc)


def _check_entries(header: dict[str, Any], *, data_len: int, loc: str) -> list[Finding]:
    out: list[Finding] = []
    meta = header.get("__metadata__")
    if meta is not None:
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            out.append(finding("MG-S403", "__metadata__ must map strings to strings", location=f"{loc}/__metadata__"))
    ranges: list[tuple[int, int, str]] = []
    bad = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        problem = _entry_problem(entry)
        if problem is not None:
            bad += 1
            if bad <= _MAX_REPORTED:
                out.append(finding("MG-S403", f"tensor {name!r}: {problem}", location=f"{loc}/{name}"))
            continue
        begin, end = entry["data_offsets"]
        ranges.append((begin, end, name))
    if bad > _MAX_REPORTED:
        out.append(finding("MG-S403", f"{bad - _MAX_REPORTED} more invalid tensor entries", location=loc))
    if not bad:
        out.extend(_check_ranges(ranges, data_len=data_len, loc=loc))
    return out


def _entry_problem(entry: object) -> str | None:
    if not isinstance(entry, dict):
        return "entry is not an object"
    keys = set(entry)
    if keys != _TENSOR_KEYS:
        missing, extra = sorted(_TENSOR_KEYS - keys), sorted(keys - _TENSOR_KEYS)
        return f"entry keys must be dtype, shape, data_offsets (missing {missing}, extra {extra})"
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        return f"unknown dtype {dtype!r}"
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        return f"shape {shape!r} is not a list of non-negative integers"
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) and o >= 0 for o in offsets)
            or offsets[0] > offsets[1]):
        return f"data_offsets {offsets!r} is not [begin, end] with 0 <= begin <= end"
    elements = 1
    for d in shape:
        elements *= d
    bits = elements * DTYPE_BITS[dtype]
    if bits % 8:
        return f"{elements} x {dtype} does not end on a byte boundary"
    if bits // 8 != offsets[1] - offsets[0]:
        return f"shape {shape} x {dtype} is {bits // 8} bytes but data_offsets span {offsets[1] - offsets[0]}"
    return None


def _check_ranges(ranges: list[tuple[int, int, str]], *, data_len: int, loc: str) -> list[Finding]:
    # safetensors' own rule: sorted by offset, each range starts where the previous ended,
    # and the last ends exactly at the end of the file.
    expected = 0
    for begin, end, name in sorted(ranges):
        if begin != expected:
            kind = "overlaps the previous tensor" if begin < expected else f"leaves a gap of {begin - expected} bytes"
            return [finding("MG-S404", f"tensor {name!r} at [{begin}, {end}] {kind}", location=f"{loc}/{name}")]
        expected = end
    if expected != data_len:
        what = "beyond the end of the file" if expected > data_len else f"{data_len - expected} unclaimed bytes"
        return [finding("MG-S404", f"tensors cover {expected} of {data_len} data bytes: {what}", location=loc)]
    return []
