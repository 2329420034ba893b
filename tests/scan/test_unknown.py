"""Unknown binaries: inert ones are informational (MG-S005), ones that hide a pickle, an archive
or a Python-calling TensorFlow op fail (MG-S002), broken pickles stay unscannable (MG-S001), and
``unknown-formats = "fail"`` makes every unknown fail."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.models import Severity, Verdict
from modelguard.scan import scan_bytes, scan_file
from modelguard.scan.unknown import escalate
from modelguard.spec.manifest import parse_manifest
from modelguard.spec.types import Policy
from modelguard.trust.evaluate import scan_and_evaluate
from tests.scan import picklegen as g
from tests.scan.h5build import keras_h5

# A MeCab-style dictionary header and random payload: no format modelguard knows.
INERT = b"\xc4\x38\x9f\xed" + random.Random(7).randbytes(8192)


def _rules(data: bytes, name: str = "sys.dic") -> tuple[str, Verdict, dict[str, Severity]]:
    r = scan_bytes(data, name)
    return r.format, r.verdict, {f.rule: f.severity for f in r.findings}


def test_inert_unknown_binary_is_informational() -> None:
    fmt, verdict, rules = _rules(INERT)
    assert fmt == "unknown" and verdict is Verdict.CLEAN
    assert rules == {"MG-S005": Severity.INFO}


def test_random_data_of_every_size_is_informational() -> None:
    """Random bytes hold many PROTO-like pairs; none walks as a pickle, so none is flagged."""
    rng = random.Random(1)
    for size in (3, 100, 4096, 300_000):
        data = b"\xff" + rng.randbytes(size)
        assert _rules(data)[2] == {"MG-S005": Severity.INFO}, size


def test_embedded_dangerous_pickle_is_malicious() -> None:
    data = INERT[:3000] + g.reduce_call("os", "system") + INERT[3000:]
    fmt, verdict, rules = _rules(data)
    assert fmt == "unknown" and verdict is Verdict.MALICIOUS
    assert {"MG-S002", "MG-S101"} <= set(rules) and "MG-S005" not in rules


def test_embedded_protocol0_pickle_is_found() -> None:
    data = INERT[:500] + b"\n" + g.reduce_call("subprocess", "check_output", protocol=0) + INERT[500:]
    _, verdict, rules = _rules(data)
    assert verdict is Verdict.MALICIOUS and {"MG-S002", "MG-S101"} <= set(rules)


def test_embedded_pickle_of_an_unknown_class_fails_closed() -> None:
    data = INERT[:100] + g.newobj_call("mylib.models", "Thing") + INERT[100:]
    _, verdict, rules = _rules(data)
    assert verdict is Verdict.UNSCANNABLE and "MG-S002" in rules and "MG-S102" in rules


def test_embedded_plain_data_pickle_is_not_a_finding() -> None:
    """A pickle that imports and calls nothing builds plain data: no loader runs code from it."""
    data = INERT[:100] + g.pickle_of(g.value({"a": [1, 2, 3]})) + INERT[100:]
    assert _rules(data)[2] == {"MG-S005": Severity.INFO}


@pytest.mark.parametrize("header", [b"PK\x03\x04\x14\x00", b"7z\xbc\xaf\x27\x1c", b"\xfd7zXZ\x00"])
def test_embedded_archive_header_fails_closed(header: bytes) -> None:
    fmt, verdict, rules = _rules(INERT[:64] + header + INERT[64:])
    assert fmt == "unknown" and verdict is Verdict.UNSCANNABLE and set(rules) == {"MG-S002"}


def test_tensorflow_python_op_name_fails_closed() -> None:
    """A graph no recogniser claimed that names EagerPyFunc (NodeDef op field) is not inert."""
    fmt, verdict, rules = _rules(INERT[:64] + b"\x0a\x03pyf\x12\x0bEagerPyFunc" + INERT[64:], "graph.bin")
    assert fmt == "unknown" and verdict is Verdict.UNSCANNABLE and set(rules) == {"MG-S002"}


def test_truncated_binary_pickle_is_unscannable() -> None:
    """A pickle cut short is not "some unknown format": it is a broken pickle (MG-S001)."""
    data = g.benign_ordered_dict(protocol=1)[:-4]
    assert data[:1] != b"\x80"
    _, verdict, rules = _rules(data, "model.pkl")
    assert verdict is Verdict.UNSCANNABLE and set(rules) == {"MG-S001"}


def test_pickle_of_an_unknown_protocol_is_unscannable() -> None:
    _, verdict, rules = _rules(b"\x80\x06N.", "x.pkl")
    assert verdict is Verdict.UNSCANNABLE and set(rules) == {"MG-S001"}


def test_escalate_raises_only_the_inert_finding() -> None:
    found = list(scan_bytes(INERT, "x").findings)
    [raised] = escalate(found)
    assert raised.rule == "MG-S005" and raised.severity is Severity.MEDIUM
    other = scan_bytes(g.reduce_call("os", "system"), "x").findings
    assert escalate(other) == list(other)


def test_policy_unknown_formats_fail_makes_inert_unknowns_fail(tmp_path: Path) -> None:
    policy = parse_manifest('[policy]\nallowed-orgs = ["*"]\nunknown-formats = "fail"\n', source="m.toml").policy
    assert policy.unknown_formats == "fail"
    path = tmp_path / "sys.dic"
    path.write_bytes(INERT)
    strict = scan_and_evaluate(path, policy=policy, repo="a/b", rel_path="sys.dic", display="sys.dic",
                               size=len(INERT), sha256="0" * 64)
    assert strict.verdict is Verdict.UNSCANNABLE
    assert [(f.rule, f.severity) for f in strict.findings] == [("MG-S005", Severity.MEDIUM)]
    default = scan_and_evaluate(path, policy=Policy(), repo="a/b", rel_path="sys.dic", display="sys.dic",
                                size=len(INERT), sha256="0" * 64)
    assert default.verdict is Verdict.CLEAN


def test_policy_unknown_formats_rejects_other_values() -> None:
    from modelguard.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown-formats"):
        parse_manifest('[policy]\nunknown-formats = "ignore"\n', source="m.toml")


def test_default_policy_hash_does_not_change_with_the_new_key() -> None:
    written = parse_manifest('[policy]\nunknown-formats = "inform"\n', source="m.toml").policy
    assert written.sha256 == parse_manifest("[policy]\n", source="m.toml").policy.sha256
    strict = parse_manifest('[policy]\nunknown-formats = "fail"\n', source="m.toml").policy
    assert strict.sha256 != written.sha256


def test_cli_scan_passes_an_inert_unknown_and_fail_on_info_refuses_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "matrix.bin"
    path.write_bytes(INERT)
    assert run(["scan", str(path)]) == 0
    out = capsys.readouterr().out
    assert "MG-S005 info" in out
    assert run(["scan", "--fail-on", "info", str(path)]) == 1


def test_large_unknown_file_is_searched_to_the_end(tmp_path: Path) -> None:
    """The embedded-pickle search covers the whole file, not only the detection head and tail."""
    path = tmp_path / "big.bin"
    noise = random.Random(1712)  # seeded (see test_large_unknown_archive_member_is_searched_through_a_map)
    with open(path, "wb") as f:
        f.write(b"\xc4\x38" + noise.randbytes(3 << 20))
        f.write(g.reduce_call("os", "system"))
        f.write(noise.randbytes(1 << 20))
    r = scan_file(path)
    assert r.verdict is Verdict.MALICIOUS and {"MG-S002", "MG-S101"} <= {f.rule for f in r.findings}


def _zip(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504  # an Office compound-file header sector


def test_zip_inside_an_unknown_binary_is_scanned_as_a_zip() -> None:
    """Excel keeps its theme as a complete zip inside the workbook: scanned, and inert if its members are."""
    theme = _zip({"[Content_Types].xml": b"<Types/>", "theme/theme1.xml": b"<a:theme/>"})
    assert _rules(OLE2 + INERT[:3000] + theme + INERT[3000:], "book.xls") == (
        "unknown", Verdict.CLEAN, {"MG-S005": Severity.INFO})
    evil = _zip({"theme/theme1.xml": b"<a:theme/>", "payload.pkl": g.reduce_call("os", "system")})
    _, verdict, rules = _rules(OLE2 + INERT[:3000] + evil + INERT[3000:], "book.xls")
    assert verdict is Verdict.MALICIOUS and "MG-S101" in rules


def test_office_file_ending_in_a_zip_is_not_a_zip_polyglot() -> None:
    """The zip's end record in the tail would make it a zip with 'bytes before the archive' (MG-S202)."""
    theme = _zip({"theme/theme1.xml": b"<a:theme/>"})
    assert _rules(OLE2 + INERT[:2000] + theme + b"\0" * 512, "book.xls") == (
        "unknown", Verdict.CLEAN, {"MG-S005": Severity.INFO})
    evil = _zip({"x.pkl": g.reduce_call("os", "system")})
    assert _rules(OLE2 + INERT[:2000] + evil, "book.xls")[1] is Verdict.MALICIOUS


@pytest.mark.parametrize("offset", [512, 2048, 8192])
def test_hdf5_after_a_user_block_goes_to_the_hdf5_scanner(offset: int) -> None:
    """h5py (and so Keras' load_model) opens an HDF5 file whose superblock follows a user block."""
    # Real HDF5 files (h5py) with a user block: the structural HDF5 reader finds the superblock there.
    lambda_layer = {"class_name": "Lambda", "config": {"name": "l", "function": ["4wEAAAAAAAAAAAAA", None, None],
                                                       "function_type": "lambda"}}
    block = b"\x01user block\x00" + b"\xee" * (offset - 12)
    data = keras_h5({"class_name": "Sequential", "config": {"layers": [lambda_layer]}}, user_block=block,
                    block_size=offset)
    r = scan_bytes(data, "weights.bin")
    assert r.verdict is Verdict.MALICIOUS and "MG-S501" in {f.rule for f in r.findings}
    plain = keras_h5(None, user_block=block, block_size=offset)
    assert scan_bytes(plain, "data.bin").verdict is Verdict.CLEAN


def test_large_unknown_archive_member_is_searched_through_a_map(tmp_path: Path) -> None:
    """A stored member over 1 MiB is a window of the archive file: mapped, never read whole."""
    import zipfile

    noise = random.Random(1711)  # seeded: one random blob in 256 has a "{" at byte 8 and reads as a safetensors header
    blob = b"\xc4\x38" + noise.randbytes(3 << 20) + g.reduce_call("os", "system") + noise.randbytes(1 << 16)
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("weights/blob.dat", blob)
        z.writestr("README.txt", b"data\n")
    r = scan_file(path)
    assert r.verdict is Verdict.MALICIOUS and {"MG-S002", "MG-S101"} <= {f.rule for f in r.findings}


def test_large_decompressed_unknown_is_searched(tmp_path: Path) -> None:
    """A decompressed stream that spilled to a temp file is mapped too."""
    import gzip

    blob = b"\xc4\x38" + random.Random(1713).randbytes(40 << 20) + g.reduce_call("os", "system")
    path = tmp_path / "blob.gz"
    path.write_bytes(gzip.compress(blob, compresslevel=1))
    r = scan_file(path)
    assert r.verdict is Verdict.MALICIOUS and {"MG-S002", "MG-S101"} <= {f.rule for f in r.findings}
