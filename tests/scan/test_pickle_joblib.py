"""joblib files: inline array payloads are skipped exactly as joblib reads them, the rest analysed."""

from __future__ import annotations

import io
import os
from pathlib import Path

import joblib
import numpy as np
import pytest

from modelguard.models import Verdict
from modelguard.scan import scan_bytes, scan_file
from tests.scan import picklegen as g
from tests.shared_corpus import corpus_files, require


class Payload:
    """Pickles as os.system("echo pwned"); dumped only, never loaded."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def dumped(obj: object, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    joblib.dump(obj, buf, **kwargs)  # type: ignore[arg-type]
    return buf.getvalue()


ARRAYS = {
    "float": np.arange(10.0),
    "int8": np.arange(7, dtype="i1"),
    "bool": np.array([True, False, True]),
    "complex": np.ones(3, dtype="c16"),
    "unicode": np.array(["ab", "cde"]),
    "bytes": np.array([b"x", b"yz"]),
    "datetime": np.array(["2024-01-01"], dtype="M8[D]"),
    "structured": np.zeros(3, dtype=[("a", "i4"), ("b", "f8", (2,))]),
    "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    "scalar": np.array(3.0),
    "empty": np.zeros((0, 5)),
    "bigendian": np.arange(4, dtype=">i4"),
    "object": np.array([1, "two", None], dtype=object),
}


@pytest.mark.parametrize("kind", sorted(ARRAYS))
def test_arrays_are_skipped_and_what_follows_is_still_analysed(kind: str) -> None:
    benign = dumped({"first": ARRAYS[kind], "second": [ARRAYS[kind], {"k": 1}]})
    result = scan_bytes(benign, "model.joblib")
    assert result.format == "joblib"
    assert result.verdict is Verdict.CLEAN, result.findings
    evil = dumped({"first": ARRAYS[kind], "then": Payload()})
    assert scan_bytes(evil, "model.joblib").verdict is Verdict.MALICIOUS


def test_payload_inside_an_object_array_nested_pickle_is_found() -> None:
    evil = dumped({"a": np.array([Payload(), 1], dtype=object), "b": np.arange(3)})
    assert scan_bytes(evil, "model.joblib").verdict is Verdict.MALICIOUS


def test_large_array_is_skipped_without_reading() -> None:
    data = dumped([np.zeros(3 << 20, dtype="u1"), "tail"])
    result = scan_bytes(data, "model.joblib", limits=None)
    assert result.verdict is Verdict.CLEAN and result.format == "joblib"


def test_truncated_array_payload_is_unscannable() -> None:
    data = dumped([np.arange(1000.0)])
    result = scan_bytes(data[:-200], "model.joblib")
    assert result.verdict is Verdict.UNSCANNABLE
    assert "MG-S001" in {f.rule for f in result.findings}


def test_wrapper_with_unknown_dtype_is_unscannable_not_clean() -> None:
    wrapper = g.stack_global("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81"
    state = b"}(" + g.text("shape") + b"K\x03\x85" + g.text("dtype") + g.text("weird") + b"u"
    result = scan_bytes(g.pickle_of(wrapper + state + b"b", 4), "model.joblib")
    assert result.verdict is Verdict.UNSCANNABLE


def test_old_side_file_wrapper_escaping_the_folder_is_flagged() -> None:
    wrapper = g.global_op("joblib.numpy_pickle", "NDArrayWrapper") + b")\x81"
    for name, expected in [("model.pkl_01.npy", set()), ("../../etc/passwd.npy", {"MG-S108"}),
                           ("/tmp/evil.npy", {"MG-S108"})]:
        state = b"}(" + g.text("filename", 2) + g.text(name, 2) + g.text("subclass", 2) \
            + g.global_op("numpy", "ndarray") + b"u"
        result = scan_bytes(g.pickle_of(wrapper + state + b"b", 2), "model.pkl")
        assert {f.rule for f in result.findings} == expected, name


def test_padding_byte_is_honoured() -> None:
    data = dumped([np.arange(5, dtype="u1"), "after"])
    assert b"numpy_array_alignment_bytes" in data
    assert scan_bytes(data, "m.joblib").verdict is Verdict.CLEAN


def test_array_bytes_that_look_like_opcodes_are_skipped() -> None:
    # joblib >= 1.2 layout: the padding byte (an invalid opcode) comes first, so neither
    # joblib.load nor pickle.load runs the bytes; joblib reads them as array data.
    raw = g.reduce_call("os", "system")
    result = scan_bytes(g.joblib_array_pickle(raw, aligned=True), "m.joblib")
    assert result.verdict is Verdict.CLEAN, result.findings


def test_payload_that_only_pickle_load_would_run_is_found() -> None:
    # joblib <= 1.1 layout: joblib.load skips these bytes as array data, but the same file given
    # to pickle.load parses them as opcodes right after the BUILD and runs os.system.
    raw = g.reduce_call("os", "system")[2:-1] + b"0"  # no PROTO, POP the result, keep going
    result = scan_bytes(g.joblib_array_pickle(raw, aligned=False), "m.joblib")
    assert result.verdict is Verdict.MALICIOUS
    [f] = result.findings
    assert f.rule == "MG-S101" and "pickle.load instead of joblib.load" in f.message


def test_padding_length_past_the_end_is_unscannable() -> None:
    data = g.joblib_array_pickle(b"abc", aligned=True, padding=200)
    assert scan_bytes(data, "m.joblib").verdict is Verdict.UNSCANNABLE


@pytest.mark.parametrize("path", corpus_files("joblib", "*.pkl"), ids=lambda p: p.name)
def test_shared_real_corpus_is_clean(path: Path) -> None:
    result = scan_file(require(path))
    assert result.verdict is Verdict.CLEAN, result.findings
    assert result.format == "joblib"


def test_array_data_that_parses_as_odd_opcodes_is_not_an_alarm() -> None:
    # Real float data sometimes parses a few opcodes under pickle.load's reading; only a
    # dangerous name spelled in the data counts, not structural oddities like this STACK_GLOBAL.
    raw = b"NN\x93" + bytes(range(200, 256))
    result = scan_bytes(g.joblib_array_pickle(raw, aligned=False), "m.joblib")
    assert result.verdict is Verdict.CLEAN, result.findings
