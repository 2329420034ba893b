"""Compressed single files and archives: gzip/bz2/xz/lz4/zlib, tar, 7z, nesting and bombs."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path

import lz4.frame
import py7zr
import pytest

from modelguard.scan import Limits, scan_bytes
from tests.scan.containers_build import MALICIOUS_PICKLE, Entry, Scanned, build_zip, rules_of, scan_json
from tests.shared_corpus import corpus_files, require

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "lz4": lz4.frame.compress,
    "zlib": zlib.compress,
}


@pytest.mark.parametrize("ext", sorted(COMPRESSORS))
def test_compressed_malicious_pickle(tmp_path: Path, capsys: pytest.CaptureFixture[str], ext: str) -> None:
    p = tmp_path / f"model.pkl.{ext}"
    p.write_bytes(COMPRESSORS[ext](MALICIOUS_PICKLE))
    code, entry = scan_json(p, capsys)
    assert code == 1 and entry["verdict"] == "malicious" and "MG-S101" in rules_of(entry)


@pytest.mark.parametrize("ext", sorted(COMPRESSORS))
def test_compressed_benign_pickle_is_clean(ext: str, scan_cli: Callable[[bytes, str], Scanned]) -> None:
    result = scan_cli(COMPRESSORS[ext](b"\x80\x02]q\x00(K\x01K\x02e."), f"x.{ext}")
    assert result.verdict == "clean"


@pytest.mark.parametrize("ext", sorted(COMPRESSORS))
def test_truncated_stream_still_scans_what_decompressed(ext: str, scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = COMPRESSORS[ext](MALICIOUS_PICKLE + b"\x00" * 4000)
    result = scan_cli(data[: len(data) - 8], f"x.{ext}")
    rules = result.rules
    assert "MG-S001" in rules and result.verdict != "clean"


@pytest.mark.parametrize("ext", ["gz", "xz", "zlib"])
def test_trailing_data_after_stream(ext: str, scan_cli: Callable[[bytes, str], Scanned]) -> None:
    result = scan_cli(COMPRESSORS[ext](b"hello") + MALICIOUS_PICKLE, f"x.{ext}")
    assert {"MG-S206", "MG-S101"} <= result.rules


def test_corrupt_stream(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = bytearray(gzip.compress(b"hello world" * 100))
    data[20:30] = b"\xff" * 10
    assert "MG-S001" in scan_cli(bytes(data), "x.gz").rules


def test_multi_member_gzip_reads_every_member(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = gzip.compress(b"\x80\x02K\x01.") + gzip.compress(MALICIOUS_PICKLE)
    assert scan_cli(data, "x.gz").verdict == "malicious"


def test_gzip_bomb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Zeros past the ratio limit are padding (MG-S207); what was stored holds nothing a loader runs
    # (MG-S005, informational): the padding alone makes the file fail.
    p = tmp_path / "bomb.gz"
    p.write_bytes(gzip.compress(b"\0" * (30 << 20)))
    code, entry = scan_json(p, capsys)
    assert code == 1 and {"MG-S207", "MG-S005"} <= rules_of(entry) and entry["verdict"] == "suspicious"


def _tar(members: dict[str, bytes], *, extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tf.addfile(info)
    return buf.getvalue()


def test_nested_zip_in_tar_in_gzip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inner = build_zip([Entry("weights/evil.pkl", MALICIOUS_PICKLE)])
    p = tmp_path / "bundle.tar.gz"
    p.write_bytes(gzip.compress(_tar({"README.md": b"# model\n", "model.zip": inner})))
    code, entry = scan_json(p, capsys)
    assert code == 1 and entry["verdict"] == "malicious" and entry["format"] == "gzip"
    assert any("model.zip!weights/evil.pkl" in f["location"] for f in entry["findings"])


def test_benign_tar_is_clean(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    result = scan_cli(_tar({"a/README.md": b"# hi\n", "b.txt": b"text"}), "x.tar")
    assert result.format == "tar" and result.verdict == "clean"


def test_deep_nesting_over_the_limit() -> None:
    data = MALICIOUS_PICKLE
    for _ in range(12):
        data = gzip.compress(data)
    result = scan_bytes(data, "deep.gz", limits=Limits(max_depth=8))
    assert "MG-S003" in {f.rule for f in result.findings} and result.verdict.value != "clean"


def test_tar_escaping_names_links_and_devices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    link = tarfile.TarInfo("model.bin")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "../../x"
    fifo = tarfile.TarInfo("pipe")
    fifo.type = tarfile.FIFOTYPE
    p = tmp_path / "x.tar"
    p.write_bytes(_tar({"../../evil.sh": b"echo hi\n"}, extra=[link, hard, fifo]))
    code, entry = scan_json(p, capsys)
    assert code == 1 and {"MG-S204", "MG-S205"} <= rules_of(entry)


def test_truncated_tar(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = _tar({"a.pkl": MALICIOUS_PICKLE * 20, "b.txt": b"x" * 3000})
    result = scan_cli(data[:1200], "x.tar")
    assert result.verdict != "clean"


def _7z(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(data, name)
    return buf.getvalue()


def test_7z_with_malicious_member(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "model.7z"
    p.write_bytes(_7z({"config.txt": b"hello", "model/weights.pkl": MALICIOUS_PICKLE}))
    code, entry = scan_json(p, capsys)
    assert code == 1 and entry["format"] == "7z" and "MG-S101" in rules_of(entry)


def test_7z_benign_and_bomb(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    assert scan_cli(_7z({"a.txt": b"hello"}), "x.7z").verdict == "clean"
    bomb = _7z({"zeros.bin": b"\0" * (20 << 20)})
    assert "MG-S003" in scan_cli(bomb, "x.7z").rules


def test_damaged_7z(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = _7z({"a.txt": b"hello" * 100})
    assert "MG-S001" in scan_cli(data[:40], "x.7z").rules


@pytest.mark.parametrize("path", corpus_files("joblib"), ids=lambda p: p.name)
def test_real_joblib_corpus_is_clean(path: Path, scan_cli: Callable[[bytes, str], Scanned]) -> None:
    result = scan_cli(require(path).read_bytes(), path.name)
    assert result.verdict == "clean", result


def test_old_joblib_zfile(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          scan_cli: Callable[[bytes, str], Scanned]) -> None:
    """joblib < 0.10 compressed format, which joblib.load still reads."""
    def zfile(payload: bytes) -> bytes:
        return b"ZF" + hex(len(payload)).encode().ljust(19) + zlib.compress(payload)

    p = tmp_path / "model.joblib"
    p.write_bytes(zfile(MALICIOUS_PICKLE))
    code, entry = scan_json(p, capsys)
    assert code == 1 and entry["verdict"] == "malicious" and "MG-S101" in rules_of(entry)
    assert scan_cli(zfile(b"\x80\x02K\x01."), "ok.joblib").verdict == "clean"


def test_tar_claiming_a_huge_pax_header_does_not_exhaust_memory(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    header = bytearray(512)
    header[:9] = b"pax_hdr\0\0"
    header[100:108] = b"0000644\0"
    header[124:136] = b"%011o\0" % (50 << 30)  # 50 GB of pax header
    header[156:157] = b"x"
    header[257:263] = b"ustar\0"
    header[263:265] = b"00"
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    p = tmp_path / "x.tar"  # on disk: a file's read(n) allocates n bytes up front, BytesIO's does not
    p.write_bytes(bytes(header) + b"\0" * 1024)
    code, entry = scan_json(p, capsys)
    assert code == 1 and entry["format"] == "tar" and entry["verdict"] != "clean"


class _Evil:
    """Pickles as os.system("echo pwned"); only ever dumped, never loaded."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("method", ["zlib", "gzip", "bz2", "xz", "lzma", "lz4"])
def test_real_joblib_compressed_dumps(method: str, tmp_path: Path, scan_cli: Callable[[bytes, str], Scanned]) -> None:
    joblib = pytest.importorskip("joblib")
    import numpy as np

    benign = tmp_path / "benign.joblib"
    joblib.dump({"w": np.arange(1000, dtype=np.float64), "names": ["a", "b"]}, benign, compress=(method, 3))
    result = scan_cli(benign.read_bytes(), f"model_{method}.joblib")
    assert result.verdict == "clean", result
    evil = tmp_path / "evil.joblib"
    joblib.dump({"w": np.arange(10), "x": _Evil()}, evil, compress=(method, 3))
    result = scan_cli(evil.read_bytes(), f"evil_{method}.joblib")
    assert result.verdict == "malicious" and "MG-S101" in result.rules


def test_corrupt_7z_headers_never_crash_the_scan() -> None:
    data = _7z({"a.pkl": MALICIOUS_PICKLE})
    for i in range(len(data) - 120, len(data)):  # the 7z header sits at the end of the file
        for value in (0x00, 0xFF):
            mutated = data[:i] + bytes([value]) + data[i + 1:]
            result = scan_bytes(mutated, "x.7z")  # raises on a parser crash
            assert result.format == "7z"
