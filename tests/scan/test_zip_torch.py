"""Zip containers read as torch's miniz reader reads them: layout, tampering, polyglots, bombs."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from modelguard.scan import Limits, scan_bytes
from modelguard.scan.zipread import read_directory
from tests.scan.containers_build import (
    MALICIOUS_PICKLE,
    Entry,
    Scanned,
    build_zip,
    rules_of,
    scan_json,
    torch_zip,
    torch_zip_entries,
)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_benign_torch_state_dict_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = torch_zip()
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None  # a well-formed zip, as torch writes
    code, entry = scan_json(_write(tmp_path, "pytorch_model.bin", data), capsys)
    assert code == 0
    assert entry["verdict"] == "clean" and entry["format"] == "pytorch-zip"


def test_malicious_data_pkl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, entry = scan_json(_write(tmp_path, "model.pt", torch_zip(MALICIOUS_PICKLE)), capsys)
    assert code == 1
    assert entry["verdict"] == "malicious" and "MG-S101" in rules_of(entry)
    assert any("!archive/data.pkl" in f["location"] for f in entry["findings"])


@pytest.mark.parametrize("name", ["archive/extra/weights.bin", "other/deep/folder/x", "archive/.data/serialization_id"])
def test_pickle_under_any_member_name_is_scanned(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 name: str) -> None:
    entries = [e for e in torch_zip_entries() if e.name != name] + [Entry(name, MALICIOUS_PICKLE)]
    code, entry = scan_json(_write(tmp_path, "model.pt", build_zip(entries)), capsys)
    assert code == 1 and entry["verdict"] == "malicious" and "MG-S101" in rules_of(entry)


def test_tensor_storage_is_never_parsed(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    # torch reads archive/data/<key> as raw bytes: pickle-looking tensor data is not a pickle.
    entries = [e if e.name != "archive/data/0" else Entry("archive/data/0", MALICIOUS_PICKLE)
               for e in torch_zip_entries()]
    assert scan_cli(build_zip(entries), "m.pt").verdict == "clean"
    # ... but the same bytes in a plain zip are a member like any other.
    assert scan_cli(build_zip([Entry("data/0", MALICIOUS_PICKLE)]), "x.zip").verdict == "malicious"


def test_storage_name_only_in_one_header_is_scanned(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    """Local header says data.pkl, central says data/1: scanned under both readings."""
    entries = torch_zip_entries(extra=[Entry("archive/data/1", MALICIOUS_PICKLE, local_name="archive/data.pkl")])
    result = scan_cli(build_zip(entries), "m.pt")
    assert result.rules >= {"MG-S201", "MG-S101"}


def test_local_central_name_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entries = torch_zip_entries(MALICIOUS_PICKLE)
    entries[0].local_name = "archive/harmless.txt"
    data = build_zip(entries)
    with pytest.raises(zipfile.BadZipFile):  # what a zipfile-based scanner sees
        zipfile.ZipFile(io.BytesIO(data)).read("archive/data.pkl")
    code, entry = scan_json(_write(tmp_path, "model.pt", data), capsys)
    assert code == 1 and {"MG-S201", "MG-S101"} <= rules_of(entry)
    assert entry["verdict"] == "malicious"


def test_bad_crc_is_reported_and_member_still_scanned(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    entries = torch_zip_entries(MALICIOUS_PICKLE)
    entries[0].crc = 0xDEADBEEF
    result = scan_cli(build_zip(entries), "m.pt")
    rules = result.rules
    assert {"MG-S201", "MG-S101"} <= rules
    assert any("CRC-32" in m for m in result.messages)


def test_odd_flag_bits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entries = torch_zip_entries()
    entries[0].flags = 0x0040  # "strong encryption" in the local header only
    entries[0].central_flags = 0
    code, entry = scan_json(_write(tmp_path, "model.pt", build_zip(entries)), capsys)
    assert code == 1 and "MG-S201" in rules_of(entry) and entry["verdict"] == "suspicious"


def test_encrypted_member_is_unscannable(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    entries = [Entry("a.bin", b"\x01\x02\x03" * 10, flags=0x0001)]
    assert "MG-S203" in scan_cli(build_zip(entries), "x.zip").rules


def test_unsupported_compression_method(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = bytearray(build_zip([Entry("a.pkl", MALICIOUS_PICKLE, align=0)]))
    # rewrite method 0 -> 14 (LZMA) in both headers
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):
        at = data.index(sig)
        field = at + (8 if sig == b"PK\x03\x04" else 10)
        data[field:field + 2] = struct.pack("<H", 14)
    result = scan_cli(bytes(data), "x.zip")
    assert "MG-S203" in result.rules and result.verdict != "clean"


def test_deflated_members_and_size_lies(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    ok = build_zip([Entry("a/config.json", b'{"a": 1}', method=8), Entry("b.pkl", MALICIOUS_PICKLE, method=8)])
    result = scan_cli(ok, "x.zip")
    assert result.verdict == "malicious"
    lying = build_zip([Entry("a.txt", b"hello world", method=8, declared_size=5)])
    assert "MG-S201" in scan_cli(lying, "x.zip").rules


def test_truncated_zip_is_never_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = torch_zip()
    cut = data[: data.index(b"PK\x01\x02") + 10]  # central directory cut off
    code, entry = scan_json(_write(tmp_path, "model.pt", cut), capsys)
    assert code == 1 and "MG-S001" in rules_of(entry) and entry["verdict"] != "clean"
    # members before the cut are still recovered and scanned
    evil = torch_zip(MALICIOUS_PICKLE)
    result = scan_cli(evil[: evil.index(b"PK\x01\x02")], "m.pt")
    assert {"MG-S001", "MG-S101"} <= result.rules


def test_member_data_past_end_of_file(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = build_zip([Entry("big.bin", b"x" * 100, declared_size=100)])
    at = data.index(b"PK\x01\x02") + 20
    data = data[:at] + struct.pack("<L", 10**9) + data[at + 4:]  # central compressed size: 1 GB
    assert "MG-S001" in scan_cli(data, "x.zip").rules


def test_polyglot_malicious_pickle_prefix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = torch_zip(prefix=MALICIOUS_PICKLE)
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None  # zip readers see a clean archive
    code, entry = scan_json(_write(tmp_path, "model.pt", data), capsys)
    assert code == 1 and {"MG-S202", "MG-S101"} <= rules_of(entry)
    assert entry["verdict"] == "malicious"


def test_polyglot_benign_prefix_malicious_inner(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = torch_zip(MALICIOUS_PICKLE, prefix=b"\x80\x02K\x01.")
    rules = scan_cli(data, "m.pt").rules
    assert {"MG-S202", "MG-S101"} <= rules


def test_junk_prefixed_zip(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    result = scan_cli(torch_zip(prefix=b"\x00JUNK" * 20), "m.pt")
    assert "MG-S202" in result.rules and result.verdict != "clean"


def test_hidden_data_between_members_and_after_end(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    entries = [Entry("a.txt", b"hello")]
    data = build_zip(entries, suffix=MALICIOUS_PICKLE)
    result = scan_cli(data, "x.zip")
    assert {"MG-S202", "MG-S101"} <= result.rules


def test_duplicate_member_names(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = build_zip([Entry("archive/data.pkl", b"\x80\x02K\x01."), Entry("archive/data.pkl", MALICIOUS_PICKLE)])
    rules = scan_cli(data, "m.pt").rules
    assert {"MG-S201", "MG-S101"} <= rules


def test_zip_bomb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = build_zip([Entry("bomb.bin", b"\0" * (20 << 20), method=8)])
    code, entry = scan_json(_write(tmp_path, "bomb.zip", data), capsys)
    assert code == 1 and "MG-S003" in rules_of(entry) and entry["verdict"] == "unscannable"


def test_claimed_huge_member_is_not_decompressed(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = build_zip([Entry("x.bin", b"abc", method=8, declared_size=0xFFFFFFF0)])
    assert "MG-S003" in scan_cli(data, "x.zip").rules


def test_member_count_limit() -> None:
    data = build_zip([Entry(f"f{i}.txt", b"x", align=0) for i in range(20)])
    result = scan_bytes(data, "x.zip", limits=Limits(max_members=10))
    assert "MG-S003" in {f.rule for f in result.findings}


def test_expansion_budget_stops_the_scan() -> None:
    data = build_zip([Entry(f"f{i}.txt", b"a" * 200_000, method=8) for i in range(5)])
    result = scan_bytes(data, "x.zip", limits=Limits(max_expanded_bytes=500_000))
    assert "MG-S003" in {f.rule for f in result.findings}


def test_zip_named_safetensors_is_scanned_by_content(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, entry = scan_json(_write(tmp_path, "model.safetensors", torch_zip(MALICIOUS_PICKLE)), capsys)
    assert code == 1 and entry["verdict"] == "malicious" and entry["format"] == "pytorch-zip"


def test_torchscript_archive(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    entries = [
        Entry("model/data.pkl", b"\x80\x02K\x01."),
        Entry("model/code/__torch__/m.py", b"def forward(self, x: Tensor) -> Tensor:\n    return x\n"),
        Entry("model/constants.pkl", MALICIOUS_PICKLE),
        Entry("model/version", b"3\n"),
    ]
    result = scan_cli(build_zip(entries), "m.pt")
    assert result.format == "torchscript" and "MG-S101" in result.rules


def test_escaping_and_symlink_members(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = build_zip([Entry("../../etc/cron.d/x", b"hello", align=0),
                      Entry("link", b"/etc/passwd", create_system=3, external_attr=0o120777 << 16, align=0)])
    rules = scan_cli(data, "x.zip").rules
    assert {"MG-S204", "MG-S205"} <= rules


def test_keras_layout_is_classified(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    data = build_zip([Entry("metadata.json", b'{"keras_version": "3.0.0"}'),
                      Entry("config.json", b'{"class_name": "Sequential", "config": {}}')])
    assert scan_cli(data, "m.keras").format == "keras"


def test_reader_handles_zip64_written_by_zipfile(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", allowZip64=True) as zf:
        with zf.open("a.txt", "w", force_zip64=True) as w:
            w.write(b"hello")
    buf.seek(0)
    directory = read_directory(buf, len(buf.getvalue()), max_members=10)
    assert directory is not None and [m.name for m in directory.members] == ["a.txt"]
    assert scan_cli(buf.getvalue(), "x.zip").verdict == "clean"


def test_pickle_with_coincidental_end_record_signature_is_a_pickle(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    # A pickle whose tail holds the zip end-record signature is routed to the zip scanner,
    # which hands it back to the pickle scanner.
    data = b"\x80\x02" + b"X\x04\x00\x00\x00PK\x05\x06" + b"."
    result = scan_cli(data, "x.pkl")
    assert result.format in ("pickle", "joblib") and result.verdict == "clean"


def test_prefix_offsets_read_as_miniz_reads_them(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    """Prefixed zip whose unadjusted offsets land on a different local header (torch's view)."""
    benign = torch_zip()
    length = len(torch_zip_entries()[0].data)
    evil = MALICIOUS_PICKLE + b"\0" * (length - len(MALICIOUS_PICKLE))
    prefix = build_zip([Entry("archive/data.pkl", evil)], central=False)
    result = scan_cli(prefix + benign, "m.pt")
    assert result.verdict == "malicious"
    assert any("prefix adjustment" in m for m in result.messages)


def test_tar_pickle_polyglot(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo("a.txt")
        info.size = 5
        tf.addfile(info, io.BytesIO(b"hello"))
    data = bytearray(buf.getvalue())
    name = MALICIOUS_PICKLE  # 36 bytes: fits the 100-byte name field
    data[: len(name)] = name
    checksum = sum(data[:148]) + 8 * 32 + sum(data[156:512])
    data[148:156] = b"%06o\0 " % checksum
    result = scan_cli(bytes(data), "m.bin")
    assert result.format == "tar"
    assert {"MG-S202", "MG-S101"} <= result.rules


def test_descriptor_and_utf8_bits_in_one_header_only_are_benign(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    entries = torch_zip_entries()
    for e in entries:
        e.central_flags = 0x0008  # local headers carry 0x0808, as torch's streaming writer sets them
    assert scan_cli(build_zip(entries), "model.pt").verdict == "clean"


def test_torch_without_crc32_is_benign(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    entries = torch_zip_entries()
    for e in entries:
        e.crc = 0  # torch.serialization.set_crc32_options(False)
    assert scan_cli(build_zip(entries), "model.pt").verdict == "clean"
    # outside torch archives a zero CRC-32 over non-empty data is still a mismatch
    assert "MG-S201" in scan_cli(build_zip([Entry("a.txt", b"hello", crc=0)]), "x.zip").rules
