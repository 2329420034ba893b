"""HDF5 read by structure (issue 17): pickled attributes and PyTables object rows through the pickle
analyser, Keras configs, external storage, external links and virtual datasets, unparsable files.

Fixtures are written by h5py (tests/scan/h5build.py); payloads are harmless opcodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import h5py
import numpy as np
import pytest

from modelguard.scan import scan_bytes
from modelguard.scan.hdf5 import messages as m
from modelguard.scan.hdf5.objects import Walker
from modelguard.scan.hdf5.reader import Hdf5File
from tests.scan import h5build as hb
from tests.scan.containers_build import MALICIOUS_PICKLE, Scanned
from tests.scan.realdata import REAL

EVIL0 = b"cos\nsystem\n(S'echo pwned'\ntR."  # protocol 0: how PyTables pickles attributes
LIBVERS = ["earliest", "latest"]
LAMBDA = {"class_name": "Lambda", "config": {"name": "l", "function": ["4wEAAAAA", None, None],
                                             "function_type": "lambda"}}
DENSE = {"class_name": "Dense", "config": {"name": "d", "units": 4}}


def _scan(data: bytes, name: str = "model.h5") -> tuple[str, str, set[str], list[str]]:
    r = scan_bytes(data, name)
    return r.format, r.verdict.value, {f.rule for f in r.findings}, [f.location for f in r.findings]


# ---- PyTables: pickled attributes and object rows -----------------------------------------------------
@pytest.mark.parametrize("libver", LIBVERS)
def test_pickled_attribute_runs_through_the_pickle_analyser(libver: str) -> None:
    fmt, verdict, rules, locations = _scan(hb.pickled_attribute(EVIL0, libver=libver), "frame.h5")
    assert fmt == "hdf5-pytables" and verdict == "malicious" and rules == {"MG-S101"}
    assert locations == ["/df@attribute non_index_axes@offset 0"]


def test_pickled_attribute_in_dense_storage_is_found() -> None:
    # 40 attributes: libver "latest" keeps them in a fractal heap indexed by a version 2 B-tree
    _fmt, verdict, rules, _ = _scan(hb.pickled_attribute(EVIL0, libver="latest", many=40), "frame.h5")
    assert verdict == "malicious" and rules == {"MG-S101"}


@pytest.mark.parametrize("value", [b"N.", b"(lp0\nVname\np1\na.", b"(dp0\nVnames\np1\n(lp2\nNas.", b"UTF-8", b"2.1."])
def test_pandas_attribute_values_are_clean(value: bytes) -> None:
    assert _scan(hb.pickled_attribute(value), "frame.h5")[1] == "clean"


@pytest.mark.parametrize(("libver", "dataset"), [
    ("earliest", {}), ("earliest", {"chunks": (2,), "compression": "gzip"}), ("latest", {"chunks": (2,)}),
    ("latest", {"chunks": (2,), "compression": "gzip"}),
])
def test_pytables_object_rows_are_unpickled_row_by_row(libver: str, dataset: dict[str, Any]) -> None:
    rows = [b"\x80\x02N.", MALICIOUS_PICKLE, b"\x80\x02]q\x00."]
    _fmt, verdict, rules, locations = _scan(hb.object_rows(rows, libver=libver, **dataset), "frame.h5")
    assert verdict == "malicious" and rules == {"MG-S101"}
    assert all(loc.startswith("/df/block0_values[1]") for loc in locations)
    assert _scan(hb.object_rows([rows[0], rows[2]], libver=libver, **dataset), "frame.h5")[1] == "clean"


def test_rows_of_a_vlarray_that_is_not_an_object_atom_are_data() -> None:
    def write(f: h5py.File) -> None:
        d = f.create_dataset("strings", shape=(1,), dtype=h5py.vlen_dtype(np.uint8))
        d[0] = np.frombuffer(MALICIOUS_PICKLE, np.uint8)
        d.attrs["PSEUDOATOM"] = np.bytes_(b"vlstring")
    assert _scan(hb.h5(write))[1] == "clean"


# ---- Keras legacy .h5 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("libver", LIBVERS)
def test_keras_h5_with_a_lambda_is_malicious(libver: str, scan_cli: Callable[[bytes, str], Scanned]) -> None:
    r = scan_cli(hb.keras_h5({"class_name": "Sequential", "config": {"layers": [DENSE, LAMBDA]}}, libver=libver),
                 "model.h5")
    assert r.format == "keras-h5" and r.verdict == "malicious" and r.rules == {"MG-S501"}
    assert r.locations[0].startswith("/@attribute model_config:")


def test_keras_h5_benign_and_weights_only_are_clean(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    assert scan_cli(hb.keras_h5({"class_name": "Sequential", "config": {"layers": [DENSE]}}), "model.h5").verdict \
        == "clean"
    weights = scan_cli(hb.keras_h5(None), "tf_model.h5")
    assert weights.format == "hdf5" and weights.verdict == "clean"


def test_keras_model_config_that_does_not_parse_is_unscannable(scan_cli: Callable[[bytes, str], Scanned]) -> None:
    r = scan_cli(hb.keras_h5(b'{"class_name": "Sequential", "config": {"layers": [{"class_name": "Lam'), "model.h5")
    assert r.verdict == "unscannable" and r.rules == {"MG-S505"}


def test_keras_config_in_a_huge_dense_attribute_is_found() -> None:
    layers = [DENSE] * 2000 + [LAMBDA]  # > 64 KiB: a huge object of the fractal heap
    assert _scan(hb.keras_h5({"class_name": "Sequential", "config": {"layers": layers}}, libver="latest"))[2] \
        == {"MG-S501"}


# ---- storage and links that leave the file ---------------------------------------------------------------
@pytest.mark.parametrize("libver", LIBVERS)
def test_external_storage_is_malicious(libver: str, scan_cli: Callable[[bytes, str], Scanned]) -> None:
    def write(f: h5py.File) -> None:
        f.create_dataset("model_weights/dense/kernel:0", shape=(4,), dtype="f4", external=[("/etc/hostname", 0, 16)])
    r = scan_cli(hb.h5(write, libver=libver), "model.h5")
    assert r.verdict == "malicious" and r.rules == {"MG-S511"}
    assert "/etc/hostname" in r.messages[0] and r.locations == ["/model_weights/dense/kernel:0"]


@pytest.mark.parametrize("libver", LIBVERS)
def test_external_link_is_reported(libver: str, scan_cli: Callable[[bytes, str], Scanned]) -> None:
    def write(f: h5py.File) -> None:
        f.create_group("model_weights")
        f["model_weights/dense"] = h5py.ExternalLink("/srv/other.h5", "/dense")
        f["alias"] = h5py.SoftLink("/model_weights")  # a soft link stays inside the file
    r = scan_cli(hb.h5(write, libver=libver), "model.h5")
    assert r.verdict == "suspicious" and r.rules == {"MG-S512"}
    assert "/srv/other.h5:/dense" in r.messages[0]


@pytest.mark.parametrize("libver", LIBVERS)
def test_virtual_dataset_from_another_file_is_reported(libver: str, scan_cli: Callable[[bytes, str], Scanned]) -> None:
    def write(f: h5py.File, source: str) -> None:
        f.create_dataset("d", data=np.arange(4))
        layout = h5py.VirtualLayout(shape=(4,), dtype="i8")
        layout[:] = h5py.VirtualSource(source, "d", shape=(4,))
        f.create_virtual_dataset("v", layout)
    outside = scan_cli(hb.h5(lambda f: write(f, "/data/secrets.h5"), libver=libver), "model.h5")
    assert outside.verdict == "suspicious" and outside.rules == {"MG-S513"}
    assert "/data/secrets.h5" in outside.messages[0]
    assert scan_cli(hb.h5(lambda f: write(f, "."), libver=libver), "model.h5").verdict == "clean"


# ---- files that do not parse -----------------------------------------------------------------------------
def test_truncated_hdf5_is_unscannable_and_still_searched_for_keras_configs() -> None:
    data = hb.keras_h5({"class_name": "Sequential", "config": {"layers": [LAMBDA]}})
    end = data.index(b"model_config") + 400  # keep the attribute's JSON, lose the structures after it
    _fmt, verdict, rules, _ = _scan(data[:end] + b"\0" * 64)
    assert verdict in ("unscannable", "malicious") and "MG-S501" in rules and rules & {"MG-S510", "MG-S514"}


def test_superblock_with_impossible_sizes_is_unscannable() -> None:
    data = bytearray(hb.keras_h5(None))
    data[13] = 3  # offset size 3 does not exist
    assert _scan(bytes(data)) [1:3] == ("unscannable", {"MG-S510"})


def test_object_header_loop_ends() -> None:
    # A hard link from a group to its own parent: each object is walked once.
    def write(f: h5py.File) -> None:
        g = f.create_group("a")
        g["up"] = f
    assert _scan(hb.h5(write))[1] == "clean"


def test_superblock_behind_a_user_block_is_found() -> None:
    import io

    buf = io.BytesIO()
    with h5py.File(buf, "w", userblock_size=512) as f:
        f.attrs["non_index_axes"] = np.bytes_(EVIL0)
    data = buf.getvalue()
    assert data[:8] != b"\x89HDF\r\n\x1a\n"
    assert _scan(data, "frame.h5")[1:3] == ("malicious", {"MG-S101"})


# ---- the reader against h5py ------------------------------------------------------------------------------
def _h5py_view(data: bytes) -> dict[str, dict[str, bytes]]:
    import io

    out: dict[str, dict[str, bytes]] = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        def attrs(obj: Any) -> dict[str, bytes]:
            return {k: bytes(v) if isinstance(v, (bytes, np.bytes_)) else b"?" for k, v in obj.attrs.items()}
        out["/"] = attrs(f)
        f.visititems(lambda name, obj: out.__setitem__("/" + name, attrs(obj)))
    return out


def _our_view(data: bytes) -> dict[str, dict[str, bytes]]:
    import io

    h5 = Hdf5File(io.BytesIO(data), len(data), budget=1 << 30)
    walker = Walker(h5)
    out: dict[str, dict[str, bytes]] = {}
    for obj in walker.objects():
        out[obj.path] = {}
        for attr, dtype in obj.attributes:
            scalar = dtype.cls == 3 and m.element_count(attr.space_bytes, walker.sizes) == 1 \
                and attr.space_bytes[1:2] == b"\0"  # rank 0: a scalar, as h5py returns bytes
            out[obj.path][attr.name] = attr.value[:dtype.size].rstrip(b"\0") if scalar else b"?"
    return out


def _files() -> list[tuple[str, bytes]]:
    real = [(str(p), p.read_bytes()) for p in sorted(REAL.rglob("*.h5"))]
    built = [(f"pickled-{lv}-{n}", hb.pickled_attribute(b"N.", libver=lv, many=n)) for lv in LIBVERS for n in (0, 40)]
    built += [(f"keras-{lv}", hb.keras_h5({"class_name": "Sequential", "config": {"layers": [DENSE]}}, libver=lv))
              for lv in LIBVERS]
    return real + built


@pytest.mark.parametrize(("name", "data"), _files(), ids=lambda x: x if isinstance(x, str) else "")
def test_objects_and_string_attributes_match_h5py(name: str, data: bytes) -> None:
    ours, theirs = _our_view(data), _h5py_view(data)
    assert ours.keys() == theirs.keys()
    for path, attrs in theirs.items():
        assert ours[path].keys() == attrs.keys(), path
        for key, value in attrs.items():
            if b"?" not in (ours[path][key], value):
                assert ours[path][key] == value, (path, key)


def test_real_pandas_and_keras_files_are_read_fully() -> None:
    # Not vacuous: the real files hold the objects, attributes and pickled rows the scanner looks at.
    files = {p.name: p.read_bytes() for p in REAL.rglob("*.h5")}
    assert len(files) >= 5
    for name in ("frame_fixed.h5", "frame_table.h5"):
        if name in files:
            view = _our_view(files[name])
            assert any("PSEUDOATOM" in a or "non_index_axes" in a for a in view.values()), name


def test_pickled_rows_behind_a_filter_modelguard_does_not_decode_are_unscannable() -> None:
    # lzf (filter 32000, shipped with h5py): the rows cannot be inflated, so they cannot be checked.
    # (64 rows in one chunk, so the filter shrinks it and is applied: a chunk it cannot shrink is stored
    # raw with the filter masked out, and then the rows are read.)
    data = hb.object_rows([MALICIOUS_PICKLE] * 64, chunks=(64,), compression="lzf")
    _fmt, verdict, rules, _ = _scan(data, "frame.h5")
    assert verdict == "unscannable" and "MG-S514" in rules


def test_a_pickled_row_larger_than_the_pickle_limit_is_not_passed_silently() -> None:
    from modelguard.scan.base import Limits

    row = b"\x80\x04\x8c\xff" + b"x" * 255 + b"\x94."  # a pickled 255-character str
    r = scan_bytes(hb.object_rows([row]), "frame.h5", limits=Limits(max_pickle_bytes=64))
    assert r.verdict.value == "unscannable" and "MG-S003" in {f.rule for f in r.findings}
    assert scan_bytes(hb.object_rows([row]), "frame.h5").verdict.value == "clean"
