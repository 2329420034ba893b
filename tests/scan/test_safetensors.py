"""safetensors header validation: a clean file from safetensors.numpy, and every defect by raw bytes."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save

from modelguard.cli import run
from modelguard.scan import scan_bytes, scan_file


def _file(header: Any, data: bytes = b"", *, pad: bytes = b"", raw_header: bytes | None = None) -> bytes:
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    h += pad
    return struct.pack("<Q", len(h)) + h + data


def _one(header: Any, data: bytes = b"", **kw: Any) -> tuple[str, list[str], list[str]]:
    r = scan_bytes(_file(header, data, **kw), "m.safetensors")
    assert r.format == "safetensors"
    return r.verdict.value, [f.rule for f in r.findings], [f.message for f in r.findings]


def _t(dtype: str, shape: list[int], begin: int, end: int) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def test_real_file_from_safetensors_numpy_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "model.safetensors"
    p.write_bytes(save({"w": np.zeros((3, 4), dtype=np.float32), "b": np.arange(5, dtype=np.int64),
                        "e": np.zeros((0,), dtype=np.float16)}, metadata={"format": "pt"}))
    assert run(["scan", "--format", "json", str(p)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["format"] == "safetensors"
    assert doc["files"][0]["verdict"] == "clean" and doc["findings"] == []


def test_sub_byte_and_new_dtypes_are_known() -> None:
    header = {"a": _t("F4", [4], 0, 2), "b": _t("F8_E8M0", [2], 2, 4), "c": _t("C64", [1], 4, 12)}
    assert _one(header, b"\0" * 12) == ("clean", [], [])


def test_huge_claimed_header_is_a_finding_not_an_allocation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "model.safetensors"
    p.write_bytes(struct.pack("<Q", 50 << 30) + b'{"a": 1}')
    assert run(["scan", "--format", "json", str(p)]) == 1
    doc = json.loads(capsys.readouterr().out)
    f = doc["findings"][0]
    assert (f["rule"], doc["files"][0]["verdict"], f["location"]) == ("MG-S401", "unscannable", "offset 0")
    assert "100000000" in f["message"]


def test_header_longer_than_file() -> None:
    data = struct.pack("<Q", 1000) + b'{"a": 1}'
    r = scan_bytes(data, "m.safetensors")
    assert [f.rule for f in r.findings] == ["MG-S401"] and "longer than" in r.findings[0].message


@pytest.mark.parametrize(("raw", "needle"), [
    (b'{"a": \xff}', "not UTF-8"),
    (b'{"a": ', "not valid JSON"),
    (b'{"a": NaN}', "not valid JSON"),
    (b'{}\n\n', "non-space"),
    (b'{} x', "non-space"),
])
def test_header_not_a_clean_json_object(raw: bytes, needle: str) -> None:
    verdict, rules, messages = _one(None, raw_header=raw)
    assert (verdict, rules) == ("unscannable", ["MG-S402"]) and needle in messages[0]


def test_duplicate_keys_are_refused() -> None:
    raw = b'{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "w": {"dtype": "U8", "shape": [1], ' \
          b'"data_offsets": [0, 1]}}'
    verdict, rules, messages = _one(None, b"\0", raw_header=raw)
    assert verdict == "unscannable"
    assert rules == ["MG-S402"] and "duplicate key 'w'" in messages[0]


def test_space_padding_is_fine() -> None:
    assert _one({"a": _t("U8", [2], 0, 2)}, b"ab", pad=b"      ")[0] == "clean"


@pytest.mark.parametrize(("header", "needle"), [
    ({"__metadata__": {"format": 1}}, "__metadata__"),
    ({"a": _t("F32", [1], 0, 4) | {"extra": 1}}, "extra ['extra']"),
    ({"a": {"dtype": "F32", "shape": [1]}}, "missing ['data_offsets']"),
    ({"a": _t("Q9", [1], 0, 4)}, "unknown dtype"),
    ({"a": _t("F32", [-1], 0, 4)}, "non-negative"),
    ({"a": _t("F32", [True], 0, 4)}, "non-negative"),
    ({"a": _t("F32", [2], 0, 4)}, "8 bytes but data_offsets span 4"),
    ({"a": _t("F4", [3], 0, 4)}, "byte boundary"),
    ({"a": _t("F32", [1], 4, 0)}, "begin <= end"),
    ({"a": [1, 2]}, "not an object"),
])
def test_invalid_tensor_entries(header: dict[str, Any], needle: str) -> None:
    verdict, rules, messages = _one(header, b"\0" * 4)
    assert verdict == "unscannable" and rules[0] == "MG-S403" and needle in messages[0], messages


@pytest.mark.parametrize(("header", "data", "needle"), [
    ({"a": _t("U8", [4], 0, 4), "b": _t("U8", [4], 2, 6)}, 8, "overlaps"),
    ({"a": _t("U8", [4], 0, 4), "b": _t("U8", [2], 6, 8)}, 8, "gap of 2"),
    ({"a": _t("U8", [4], 0, 4)}, 8, "4 unclaimed bytes"),
    ({"a": _t("U8", [8], 0, 8)}, 4, "beyond the end"),
    ({"b": _t("U8", [4], 4, 8), "a": _t("U8", [4], 4, 8)}, 8, "gap of 4"),
])
def test_offsets_must_tile_the_data_section(header: dict[str, Any], data: int, needle: str) -> None:
    verdict, rules, messages = _one(header, b"\0" * data)
    assert (verdict, rules) == ("unscannable", ["MG-S404"]) and needle in messages[0], messages


def test_tensor_data_is_never_read(tmp_path: Path) -> None:
    # A 64 MiB data section of which only the header is read: a sparse file keeps the test fast.
    p = tmp_path / "big.safetensors"
    n = 64 << 20
    with p.open("wb") as f:
        f.write(_file({"w": _t("U8", [n], 0, n)}))
        f.truncate(f.tell() + n)
    assert scan_file(p).verdict.value == "clean"


def test_locations_name_the_tensor_and_the_member_when_nested() -> None:
    from modelguard.scan import scan_source
    from modelguard.scan.base import BytesSource, ScanContext

    bad = _file({"a": _t("U8", [4], 0, 4), "b": _t("U8", [4], 2, 6)}, b"\0" * 8)
    top = scan_bytes(bad, "m.safetensors").findings[0]
    assert top.location == "header/b"
    ctx = ScanContext(depth=1)
    nested = scan_source(ctx, BytesSource(bad, "repo.zip!m.safetensors")).findings[0]
    assert nested.location == "repo.zip!m.safetensors@header/b"


def test_preload_imports_everything_the_scan_of_a_safetensors_file_needs() -> None:
    """fetch preloads the scanners while bytes download, so the scan after the last byte waits for no import
    (issue 15): that includes the pickle analyser every scan runs on a file's first bytes (polyglots)."""
    import subprocess
    import sys

    code = (
        "import sys, struct, tempfile, os\n"
        "from modelguard.models import Format\n"
        "from modelguard.scan import preload, scan_file\n"
        "preload({Format.SAFETENSORS})\n"
        "before = set(sys.modules)\n"
        "h = b'{\"w\": {\"dtype\": \"U8\", \"shape\": [8], \"data_offsets\": [0, 8]}}'\n"
        "h += b' ' * (-len(h) % 8)\n"
        "p = os.path.join(tempfile.mkdtemp(), 'model.safetensors')\n"
        "open(p, 'wb').write(struct.pack('<Q', len(h)) + h + bytes(8))\n"
        "r = scan_file(p)\n"
        "assert r.format == 'safetensors' and not r.findings, r\n"
        "late = sorted(m for m in set(sys.modules) - before if m.startswith('modelguard.scan'))\n"
        "assert not late, late\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
