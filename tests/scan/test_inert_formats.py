"""Word vectors, MATLAB, SentencePiece normaliser rules, legacy numpy/joblib files, chat templates and
library pickles as real projects publish them: recognised and clean. Each has a malicious twin: a
pickle under the format's name, a Keras Lambda behind a MAT v7.3 header, a gensim class called
with arguments, an os.system import next to reviewed classes."""

from __future__ import annotations

import lzma
import struct
from pathlib import Path
from typing import Any

import pytest

from modelguard.scan.pickle.allowlist import Safety, classify
from modelguard.scan.pickle.packs import DEFAULT_GLOBALS, PACKS, REBUILD_ONLY, review
from modelguard.scan.templates import check_template
from tests.scan import picklegen as g
from tests.scan.h5build import keras_h5
from tests.scan.realdata import read_published, scan_summary

EVIL = g.reduce_call("os", "system")


@pytest.mark.parametrize(("rel", "fmt"), [
    ("gensim/high_precision.kv.bin", "word2vec"),
    ("gensim/toy-model.bin", "fasttext"),
    ("gensim/lee_fasttext.bin", "fasttext"),  # fastText from before the magic number
    ("gensim/word2vec_old", "pickle"),
    ("gensim/ldamodel_python_3_5", "pickle"),
    ("gensim/phrases-3.6.0.model", "pickle"),
    ("matlab/testvec_4_GLNX86.mat", "matlab"),
    ("matlab/testdouble_4.2c_SOL2.mat", "matlab"),
    ("matlab/testdouble_7.1_GLNX86.mat", "matlab"),
    ("matlab/testemptycell_5.3_SOL2.mat", "matlab"),
    ("sentencepiece/nfkc.bin", "sentencepiece-normalizer"),
    ("numpy/win64python2.npy", "numpy"),
    ("numpy/py2-np0-objarr.npy", "numpy"),
    ("joblib/joblib_0.10.0_pickle_py27_np17.pkl.lzma", "xz"),
    ("templates/tencent-Hy3.jinja", "jinja"),
])
def test_published_files_are_clean(rel: str, fmt: str) -> None:
    assert scan_summary(read_published(rel), Path(rel).name) == (fmt, "clean", set())


def test_joblib_09_array_side_file_is_an_inert_unknown() -> None:
    """``.npy.z``: zlib around raw array bytes (the dtype lives in the pickle): informational only."""
    rel = "joblib/joblib_0.9.4.dev0_compressed_cache_size_pickle_py35_np19.gz_01.npy.z"
    assert scan_summary(read_published(rel), "x.npy.z") == ("zlib", "clean", {"MG-S005"})


@pytest.mark.parametrize("name", ["GoogleNews-vectors-negative300.bin", "cc.en.300.bin", "nfkc.bin",
                                  "variables.index", "model.mat", "weight.bin"])
def test_a_pickle_under_any_of_these_names_is_a_pickle(name: str) -> None:
    """The word2vec-named file that is a pickle (gensim's own .model files are pickles too)."""
    fmt, verdict, rules = scan_summary(EVIL, name)
    assert fmt == "pickle" and verdict == "malicious" and "MG-S101" in rules


# ---- broken framing --------------------------------------------------------------------------
@pytest.mark.parametrize(("rel", "cut"), [
    ("gensim/toy-model.bin", -10), ("gensim/lee_fasttext.bin", -1000), ("gensim/high_precision.kv.bin", -3),
    ("matlab/testdouble_7.1_GLNX86.mat", -40),
])
def test_truncated_files_are_unscannable(rel: str, cut: int) -> None:
    data = read_published(rel)
    assert scan_summary(data[:cut], Path(rel).name)[1:] == ("unscannable", {"MG-S001"})


def test_fasttext_with_trailing_bytes_is_unscannable() -> None:
    assert scan_summary(read_published("gensim/toy-model.bin") + b"\0" * 9, "m.bin")[1:] == ("unscannable", {"MG-S001"})


def test_normaliser_whose_strings_are_not_utf8_is_not_one() -> None:
    """Detection reads the strings the tail holds; the scanner checks all of them."""
    from modelguard.scan.base import BytesSource, MalformedError, ScanContext
    from modelguard.scan.dataformats import scan_spm_normalizer

    data = read_published("sentencepiece/nfkc.bin")[:-2] + b"\xff\x00"
    assert scan_summary(data, "nfkc.bin") == ("unknown", "clean", {"MG-S005"})
    with pytest.raises(MalformedError, match="not UTF-8"):
        scan_spm_normalizer(ScanContext(), BytesSource(data, "nfkc.bin"), data[:4096])


# ---- MATLAB v7.3 ------------------------------------------------------------------------------
def _mat73(body: bytes | dict[str, Any] | None) -> bytes:
    """A MAT-file v7.3: MATLAB's 512-byte header as the user block of an HDF5 file (written by h5py);
    ``body`` a Keras model config to hide in it, or raw bytes after the signature (a broken file)."""
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    header = (header.ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0200) + b"IM").ljust(512, b"\0")
    if isinstance(body, bytes):
        return header + b"\x89HDF\r\n\x1a\n" + body
    return keras_h5(body, user_block=header, block_size=512)


def test_mat_v73_is_matlab_and_its_hdf5_part_is_scanned() -> None:
    assert scan_summary(_mat73(None), "data.mat") == ("matlab", "clean", set())
    lambda_layer = {"class_name": "Lambda", "config": {"name": "l", "function": ["4wEAAAAAAAAAAAAA", None, None],
                                                       "function_type": "lambda"}}
    twin = _mat73({"class_name": "Sequential", "config": {"layers": [lambda_layer]}})
    fmt, verdict, rules = scan_summary(twin, "data.mat")
    assert fmt == "matlab" and verdict == "malicious" and "MG-S501" in rules


def test_mat_v73_without_hdf5_is_unscannable() -> None:
    assert scan_summary(_mat73(b"")[:512] + b"NOTHDF5!" + b"\0" * 64, "data.mat")[1:] == ("unscannable", {"MG-S001"})


# ---- legacy numpy and joblib -----------------------------------------------------------------
def test_python2_npy_header_with_an_object_array_pickle_is_scanned() -> None:
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1L,), }"
    header = header.ljust(118, b" ") + b"\n"
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + EVIL
    fmt, verdict, rules = scan_summary(data, "x.npy")
    assert fmt == "numpy" and verdict == "malicious" and "MG-S101" in rules


def test_lzma_alone_with_a_known_size_is_decompressed() -> None:
    evil = lzma.compress(EVIL, format=lzma.FORMAT_ALONE)
    known = evil[:5] + struct.pack("<Q", len(EVIL)) + evil[13:]  # joblib 0.10 wrote the size
    for data in (evil, known):
        fmt, verdict, rules = scan_summary(data, "model.pkl.lzma")
        assert fmt == "xz" and verdict == "malicious" and "MG-S101" in rules


# ---- allowlist packs -------------------------------------------------------------------------
def test_every_pack_entry_has_a_review_note_and_is_consulted() -> None:
    for pack in PACKS:
        assert pack.reviewed
        for entry in pack.entries:
            assert len(entry.why) > 20, entry
            for name in entry.names:
                assert review(entry.module, name)
                if pack.default:
                    assert (entry.module, name) in DEFAULT_GLOBALS
                    assert classify(entry.module, name) is Safety.SAFE, (entry.module, name)


def test_packs_never_override_the_denylist() -> None:
    assert classify("gensim.models.word2vec", "Word2Vec") is Safety.SAFE
    assert classify("gensim.utils", "open") is Safety.DANGEROUS
    assert classify("gensim.models.word2vec", "load") is Safety.DANGEROUS
    assert classify("gensim.models.word2vec", "LineSentence") is Safety.UNKNOWN  # reads files: not admitted


def _rebuilt(module: str, name: str, state: dict[str, object]) -> bytes:
    """Protocol 2, as gensim pickles: copyreg._reconstructor(cls, object, None), then BUILD."""
    body = (g.global_op("copy_reg", "_reconstructor") + g.global_op(module, name)
            + g.global_op("__builtin__", "object") + b"N\x87R" + g.value(state, 2) + b"b")
    return g.pickle_of(body, 2)


def test_gensim_model_rebuilt_from_state_is_clean() -> None:
    data = _rebuilt("gensim.models.word2vec", "Word2Vec", {"vector_size": 100, "window": 5})
    assert scan_summary(data, "word2vec.model") == ("pickle", "clean", set())


def test_gensim_class_called_with_arguments_is_a_finding() -> None:
    """REDUCE on Word2Vec runs __init__, which reads corpus_file: admitted for rebuilding only."""
    data = g.reduce_call("gensim.models.word2vec", "Word2Vec", "/etc/passwd")
    _, verdict, rules = scan_summary(data, "word2vec.model")
    assert verdict == "suspicious" and rules == {"MG-S106"}
    assert ("gensim.models.word2vec", "Word2Vec") in REBUILD_ONLY


def test_dangerous_import_next_to_reviewed_classes_stays_malicious() -> None:
    body = (g.global_op("copy_reg", "_reconstructor") + g.global_op("gensim.models.ldamodel", "LdaState")
            + g.global_op("__builtin__", "object") + b"N\x87R" + b"(" + EVIL[2:-1] + b"t" + b"b")
    _, verdict, rules = scan_summary(g.pickle_of(body, 2), "lda.state")
    assert verdict == "malicious" and "MG-S101" in rules


def test_pyannote_checkpoint_objects_are_clean() -> None:
    intro = g.pickle_of(g.global_op("pyannote.audio.core.model", "Introspection") + b")\x81"
                        + g.value({"dimension": 3}, 2) + b"b", 2)
    assert scan_summary(intro, "meta.pkl") == ("pickle", "clean", set())
    problem = g.reduce_call("pyannote.audio.core.task", "Problem", 1)
    assert scan_summary(problem, "meta.pkl") == ("pickle", "clean", set())


def test_unreviewed_library_classes_stay_suspicious() -> None:
    data = g.newobj_call("pyannote.audio.core.model", "Model")
    assert scan_summary(data, "x.pkl")[1:] == ("suspicious", {"MG-S102"})


# ---- templates --------------------------------------------------------------------------------
def test_published_template_using_str_format_is_clean() -> None:
    assert check_template(read_published("templates/tencent-Hy3.jinja").decode(), "t") == []


def test_lzma_that_joblib_would_open_is_never_an_inert_unknown() -> None:
    """joblib decompresses any file starting 5d 00 as LZMA-alone, whatever its dictionary size."""
    odd = lzma.compress(EVIL, format=lzma.FORMAT_ALONE,
                        filters=[{"id": lzma.FILTER_LZMA1, "dict_size": (1 << 16) + 256}])
    assert odd[:2] == b"\x5d\x00"
    fmt, verdict, rules = scan_summary(odd, "model.pkl.lzma")
    assert fmt == "xz" and verdict == "malicious" and "MG-S101" in rules


@pytest.mark.parametrize("pad", [19, 20])
def test_joblib_zfile_with_either_header_width_is_decompressed(pad: int) -> None:
    """joblib <= 0.8.4 under Python 2 wrote the hex length one character wider; joblib skips it."""
    import zlib

    data = b"ZF" + hex(len(EVIL)).encode().ljust(pad) + zlib.compress(EVIL)
    fmt, verdict, rules = scan_summary(data, "model.pkl.gz")
    assert fmt == "zlib" and verdict == "malicious" and "MG-S101" in rules


def test_safetensors_whose_header_length_starts_like_lzma_stays_safetensors() -> None:
    """A 93-byte header makes the file start 5d 00, joblib's LZMA prefix; LZMA data starts with a
    zero byte at offset 13, where a safetensors header has JSON text."""
    import json

    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    header = header.ljust(93, b" ")
    data = struct.pack("<Q", len(header)) + header + b"\0\0\x80\x3f"
    assert data[:2] == b"\x5d\x00"
    assert scan_summary(data, "model.safetensors") == ("safetensors", "clean", set())
