"""Legacy torch stream and tar layouts, numpy .npy/.npz."""

from __future__ import annotations

import io
import struct
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.scan.containers_build import (
    MALICIOUS_PICKLE,
    SYS_INFO,
    Entry,
    Scanned,
    build_zip,
    legacy_torch,
    plain,
    rules_of,
    scan_json,
    state_dict,
)
from tests.shared_corpus import corpus_files, require


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# ---- torch legacy stream ----------------------------------------------------------------------

def test_legacy_benign_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, entry = scan_json(_write(tmp_path, "model.bin", legacy_torch()), capsys)
    assert code == 0 and entry["verdict"] == "clean" and entry["format"] == "pytorch-legacy"


def test_legacy_two_storages_of_different_types_is_clean(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    obj = state_dict({"a": ("0", 4), "b": ("1", 2)}, legacy=True)
    data = legacy_torch(obj, keys=["0", "1"], storages=[struct.pack("<q", 4) + b"\0" * 16,
                                                         struct.pack("<q", 2) + b"\0" * 8])
    assert scan_cli(data, "m.bin").verdict == "clean"


def test_legacy_malicious_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, entry = scan_json(_write(tmp_path, "model.bin", legacy_torch(MALICIOUS_PICKLE, keys=[], storages=[])),
                            capsys)
    assert code == 1 and entry["verdict"] == "malicious" and "MG-S101" in rules_of(entry)


def test_legacy_malicious_sys_info_and_keys(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    from modelguard.scan.detect import TORCH_LEGACY_MAGIC

    data = TORCH_LEGACY_MAGIC + plain(1001) + MALICIOUS_PICKLE
    assert scan_cli(data, "m.bin").verdict == "malicious"
    data = legacy_torch(keys=[]).replace(plain([]), MALICIOUS_PICKLE)
    assert scan_cli(data, "m.bin").verdict == "malicious"


def test_legacy_truncated_storage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, entry = scan_json(_write(tmp_path, "model.bin", legacy_torch()[:-5]), capsys)
    assert code == 1 and "MG-S001" in rules_of(entry) and entry["verdict"] == "unscannable"


def test_legacy_storage_count_disagrees_with_reference(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = legacy_torch(storages=[struct.pack("<q", 3) + b"\0" * 12])
    assert "MG-S001" in scan_cli(data, "m.bin").rules


def test_legacy_trailing_garbage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, entry = scan_json(_write(tmp_path, "model.bin", legacy_torch(suffix=MALICIOUS_PICKLE)), capsys)
    assert code == 1 and {"MG-S206", "MG-S101"} <= rules_of(entry)


def test_legacy_followed_by_zip_polyglot(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = legacy_torch(suffix=build_zip([Entry("x.pkl", MALICIOUS_PICKLE)]))
    assert {"MG-S206", "MG-S101"} <= scan_cli(data, "m.bin").rules


# ---- torch legacy tar -----------------------------------------------------------------------

def _torch_tar(main: bytes, storage_type: bytes = b"FloatStorage") -> bytes:
    storage_args = b"\x80\x02(X\x01\x00\x00\x000X\x03\x00\x00\x00cpuctorch\n" + storage_type + b"\nt."
    storages = plain(1) + storage_args + struct.pack("<q", 2) + b"\0" * 8 + b"\x80\x02](e."
    tensors = plain(0)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in (("sys_info", SYS_INFO), ("pickle", main), ("storages", storages), ("tensors", tensors)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_legacy_tar_benign_and_malicious(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    benign = scan_cli(_torch_tar(b"\x80\x02}q\x00."), "m.tar")
    assert benign.format == "pytorch-tar" and benign.verdict == "clean", benign
    evil = scan_cli(_torch_tar(MALICIOUS_PICKLE), "m.tar")
    assert evil.verdict == "malicious" and "MG-S101" in evil.rules


# ---- numpy --------------------------------------------------------------------------------------

def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def test_numeric_npy_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              scan_cli: Callable[[bytes, str], Scanned]) -> None:
    code, entry = scan_json(_write(tmp_path, "a.npy", _npy(np.arange(12, dtype=np.float32).reshape(3, 4))), capsys)
    assert code == 0 and entry["verdict"] == "clean" and entry["format"] == "numpy"
    structured = np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8", (2,)), ("c", "S5")])
    assert scan_cli(_npy(structured), "s.npy").verdict == "clean"


def _object_npy(pickle_bytes: bytes, descr: str = "'|O'") -> bytes:
    header = f"{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}".encode()
    header += b" " * ((-(10 + len(header) + 1)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + pickle_bytes


def test_object_npy_pickle_is_analysed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       scan_cli: Callable[[bytes, str], Scanned]) -> None:
    code, entry = scan_json(_write(tmp_path, "a.npy", _object_npy(MALICIOUS_PICKLE)), capsys)
    assert code == 1 and entry["verdict"] == "malicious" and "MG-S101" in rules_of(entry)
    structured = _object_npy(MALICIOUS_PICKLE, descr="[('a', '<i4'), ('b', '|O')]")
    assert scan_cli(structured, "s.npy").verdict == "malicious"


@pytest.mark.parametrize("header", [
    b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }",     # promises more data than present
    b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",  # unknown key
    b"{'descr': '<q9', 'fortran_order': 0, 'shape': (2,), }",           # not a bool
    b"__import__('os').system('echo pwned')",                           # not a literal
    b"{'descr': 'zz', 'fortran_order': False, 'shape': (-1,), }",       # bad dtype
])
def test_npy_header_lies_are_unscannable(header: bytes, scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\0" * 16
    result = scan_cli(data, "a.npy")
    assert "MG-S001" in result.rules and result.verdict == "unscannable"


def test_npy_header_that_is_not_a_literal_is_named_without_a_memory_address(tmp_path: Path, capsys) -> None:
    header = b"{'descr': x, 'fortran_order': False, 'shape': (1,), }"
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
    code, entry = scan_json(_write(tmp_path, "a.npy", data), capsys)
    message = entry["findings"][0]["message"]
    assert code == 1 and message.endswith("malformed node or string on line 1: a Name node"), message


def test_npy_trailing_data(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = _npy(np.arange(4, dtype=np.int64)) + MALICIOUS_PICKLE
    assert {"MG-S206", "MG-S101"} <= scan_cli(data, "a.npy").rules


def test_npz(tmp_path: Path, capsys: pytest.CaptureFixture[str], scan_cli: Callable[[bytes, str], Scanned]) -> None:
    p = tmp_path / "arrays.npz"
    np.savez_compressed(p, a=np.arange(10), b=np.ones((2, 2)))
    code, entry = scan_json(p, capsys)
    assert code == 0 and entry["format"] == "npz" and entry["verdict"] == "clean"
    stored = tmp_path / "stored.npz"
    np.savez(stored, a=np.arange(10), s=np.array(["x", "yz"]))
    code, entry = scan_json(stored, capsys)
    assert code == 0 and entry["format"] == "npz" and entry["verdict"] == "clean"
    evil = build_zip([Entry("a.npy", _npy(np.arange(3))), Entry("b.npy", _object_npy(MALICIOUS_PICKLE), method=8)])
    result = scan_cli(evil, "x.npz")
    assert result.format == "npz" and result.verdict == "malicious"


def test_real_whisper_npz_is_clean(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    path = require(corpus_files("whisper", "mel_filters.npz")[0])
    result = scan_cli(path.read_bytes(), "mel_filters.npz")
    assert result.format == "npz" and result.verdict == "clean", result


def test_legacy_tar_damaged_storages_do_not_hide_the_main_pickle(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = _torch_tar(MALICIOUS_PICKLE, storage_type=b"NoSuchStorage")
    result = scan_cli(data, "m.tar")
    assert {"MG-S001", "MG-S101"} <= result.rules and result.verdict == "malicious"
