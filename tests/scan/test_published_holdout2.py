"""What the second hold-out corpus (bench/realworld/build.py --set holdout2) found, fixed by class:
raw tensors that start like a pickle PROTO or a safetensors length, Latin-1 text that starts like
a SentencePiece model, DICOM files whose preamble is a TIFF header, HDF5 files from before
HDF5 1.6.3 (version 1/2 chunked layouts) and PyTables' pickled ``Filters``. Each recognised file
is clean; each has a malicious twin that the widening does not let through."""

from __future__ import annotations

import array
import random
import re
import struct

import numpy as np
import pytest

from modelguard.scan.pickle.allowlist import Safety, classify
from modelguard.scan.pickle.packs import DEFAULT_GLOBALS
from tests.scan import h5build as hb
from tests.scan import picklegen as g
from tests.scan.realdata import read_published, read_real, scan_summary

EVIL = g.reduce_call("os", "system")
INERT = {"MG-S005"}


@pytest.mark.parametrize(("rel", "fmt", "rules"), [
    ("natasha/slovnet_syntax_news_v1-arrays-21.bin", "unknown", INERT),  # float32 weights: 80 88 ...
    ("music21/03.md", "unknown", INERT),  # MuseData, Latin-1 text starting with three newlines
    ("pydicom/zipMR.gz", "gzip", INERT),  # DICOM with a TIFF header in its preamble, gzipped
    ("pytables/nested-type-with-gaps.h5", "hdf5", set()),  # chunked, layout message version 1
    ("pytables/time-table-vlarray-1_x.h5", "hdf5-pytables", set()),  # ... and a pickled tables.Leaf.Filters
    ("pytables/zerodim-attrs-1.4.h5", "hdf5-pytables", set()),
    ("numpy/numpy_2_0_array.pkl", "pickle", set()),  # a newline after STOP
    ("obspy/v1.0.2-py3.08.pkl", "pickle", set()),  # UTCDateTime, dict state
    ("obspy/v1.4.2-py3.12.pkl", "pickle", set()),  # UTCDateTime, tuple state
    ("mne/bem.html.jinja", "jinja", {"MG-S602"}),  # {% extends %}: listed (info), not failing
    ("lingua/pa-quadrigrams.json.br", "unknown", INERT),  # Brotli starting 82 a4 'w\x14\x02\x1b'
    ("lingua/gu-fivegrams.json.br", "unknown", INERT),  # Brotli starting 82 bb + 27 bytes that are not text
])
def test_published_files_are_clean(rel: str, fmt: str, rules: set[str]) -> None:
    assert scan_summary(read_published(rel), rel.rsplit("/", 1)[-1]) == (fmt, "clean", rules)


# ---- data that starts with 0x80 ----------------------------------------------------------------
def test_array_dump_starting_like_a_far_future_pickle_protocol_is_inert() -> None:
    """pymorphy2's paradigms.array: a uint16 count then ``array.array('H').tofile`` (count 3456: 80 0d)."""
    table = array.array("H", range(3456))
    data = struct.pack("<H", len(table)) + table.tobytes()
    assert data[:2] == b"\x80\x0d"
    assert scan_summary(data, "paradigms.array") == ("unknown", "clean", INERT)


@pytest.mark.parametrize("protocol", [6, 7])
def test_proto_of_a_protocol_python_may_soon_read_stays_unscannable(protocol: int) -> None:
    data = bytes([0x80, protocol]) + b"\x00\xff" * 40
    _, verdict, rules = scan_summary(data, "x.bin")
    assert verdict == "unscannable" and rules == {"MG-S001"}


def test_table_starting_with_proto_0_and_breaking_at_once_is_inert() -> None:
    """espeak-ng's phontab: a count (0x80) then zero bytes: PROTO 0, then no opcode at all."""
    data = b"\x80\x00\x00\x00#\x00\x00\x00base" + b"\x00" * 200
    assert scan_summary(data, "phontab") == ("unknown", "clean", INERT)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_pickle_that_breaks_after_a_run_of_opcodes_stays_unscannable(protocol: int) -> None:
    body = b"".join(g.integer(i, 2) for i in range(10))
    data = bytes([0x80, protocol]) + body + b"\x00\xff" * 40
    _, verdict, rules = scan_summary(data, "x.bin")
    assert verdict == "unscannable" and rules == {"MG-S001"}


def test_pickle_hidden_after_a_far_future_proto_is_still_found() -> None:
    data = read_published("natasha/slovnet_syntax_news_v1-arrays-21.bin")
    twin = data[:4000] + EVIL + data[4000:]
    fmt, verdict, rules = scan_summary(twin, "21.bin")
    assert fmt == "unknown" and verdict == "malicious" and {"MG-S002", "MG-S101"} <= rules


# ---- a line end after STOP ----------------------------------------------------------------------------
@pytest.mark.parametrize("tail", [b"\n", b"\r\n", b" "])
def test_a_line_end_after_stop_is_not_trailing_data(tail: bytes) -> None:
    assert scan_summary(g.benign_ordered_dict() + tail, "a.pkl") == ("pickle", "clean", set())


@pytest.mark.parametrize("tail", [b"\n\n\n", b"\nN", b"\x00"])
def test_anything_more_after_stop_is_still_trailing_data(tail: bytes) -> None:
    _, verdict, rules = scan_summary(g.benign_ordered_dict() + tail, "a.pkl")
    assert verdict == "suspicious" and "MG-S105" in rules


def test_a_pickle_after_the_line_end_is_still_analysed() -> None:
    data = read_published("numpy/numpy_2_0_array.pkl") + EVIL
    _, verdict, rules = scan_summary(data, "a.pkl")
    assert verdict == "malicious" and "MG-S101" in rules


# ---- raw tensors whose ninth byte is "{" ---------------------------------------------------------
def _floats_with_brace_at_8() -> bytes:
    """float32 weights as slovnet writes them (``ndarray.tofile``); the third value's first byte is '{'."""
    values = np.array([1.8, -0.35, -1.46, 2.4, 0.75, -1.2], dtype="<f4")
    raw = bytearray(values.tobytes())
    raw[8] = ord("{")
    raw[9] = 0x45
    return bytes(raw) * 64


def test_raw_tensor_whose_ninth_byte_is_a_brace_is_not_safetensors() -> None:
    data = _floats_with_brace_at_8()
    assert scan_summary(data, "7.bin") == ("unknown", "clean", INERT)


@pytest.mark.parametrize("header", [b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
                                    b'{ \n "a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"{}"])
def test_safetensors_with_and_without_whitespace_is_still_safetensors(header: bytes) -> None:
    data = struct.pack("<Q", len(header)) + header + (b"\0\0\x80\x3f" if header != b"{}" else b"")
    fmt, verdict, _ = scan_summary(data, "model.safetensors")
    assert (fmt, verdict) == ("safetensors", "clean")


def test_safetensors_claiming_more_header_than_the_file_is_still_broken_safetensors() -> None:
    data = struct.pack("<Q", 1 << 40) + b'{"a":{"dtype":"F32"'
    fmt, verdict, rules = scan_summary(data, "model.safetensors")
    assert fmt == "safetensors" and verdict == "unscannable" and rules & {"MG-S401"}


def test_pickle_hidden_in_a_raw_tensor_with_a_brace_is_still_found() -> None:
    data = _floats_with_brace_at_8()
    fmt, verdict, rules = scan_summary(data[:500] + EVIL + data[500:], "7.bin")
    assert fmt == "unknown" and verdict == "malicious" and {"MG-S002", "MG-S101"} <= rules


# ---- SentencePiece by structure -------------------------------------------------------------------
def test_real_sentencepiece_models_are_still_recognised() -> None:
    for rel in ("tokenizer/sentencepiece_bpe.model", "tokenizer/sentencepiece_unigram.model"):
        assert scan_summary(read_real(rel), "spm.model")[:2] == ("sentencepiece", "clean")


def test_pickle_in_latin1_text_that_starts_with_newlines_is_found() -> None:
    data = read_published("music21/03.md")
    fmt, verdict, rules = scan_summary(data[:300] + EVIL + data[300:], "03.md")
    assert fmt == "unknown" and verdict == "malicious" and {"MG-S002", "MG-S101"} <= rules


# ---- DICOM ----------------------------------------------------------------------------------------
def _dicom(preamble: bytes, body: bytes) -> bytes:
    return preamble.ljust(128, b"\0") + b"DICM" + body


def test_dicom_with_a_tiff_preamble_is_not_a_broken_image() -> None:
    data = _dicom(b"II*\x00" + struct.pack("<I", 525800), b"\x02\x00\x00\x00UL\x04\x00\xc8\x00\x00\x00" * 40)
    assert scan_summary(data, "MR.dcm") == ("unknown", "clean", INERT)


def test_dicom_holding_a_pickle_or_a_zip_is_not_inert() -> None:
    fmt, verdict, rules = scan_summary(_dicom(b"", b"\x00" * 64 + EVIL + b"\x00" * 64), "MR.dcm")
    assert fmt == "unknown" and verdict == "malicious" and {"MG-S002", "MG-S101"} <= rules
    # a zip polyglot (end record in the tail) is a zip whatever its preamble says
    assert scan_summary(_dicom(b"", b"\x00" * 64) + b"PK\x05\x06" + b"\0" * 18, "MR.dcm")[0] == "zip"


# ---- HDF5 version 1/2 chunked layouts ----------------------------------------------------------------
def _with_v1_layout(data: bytes) -> bytes:
    """h5py writes a version 3 layout message (03 02 rank address dims) in a 24-byte slot; HDF5
    before 1.6.3 wrote version 1 (01 rank 02, five reserved bytes, address, dims): the same fields."""
    [m] = list(re.finditer(rb"\x08\x00\x18\x00.\x00\x00\x00\x03\x02(.)", data, re.S))
    rank = m.group(1)[0]
    start = m.start() + 8
    address = data[start + 3:start + 11]
    dims = data[start + 11:start + 11 + 4 * rank]
    v1 = bytes([1, rank, 2, 0, 0, 0, 0, 0]) + address + dims
    assert len(v1) == 24
    return data[:start] + v1 + data[start + 24:]


def test_pickled_rows_behind_a_version_1_layout_are_unpickled() -> None:
    benign = _with_v1_layout(hb.object_rows([b"\x80\x02N.", b"\x80\x02]q\x00."], chunks=(2,)))
    assert scan_summary(benign, "frame.h5") == ("hdf5-pytables", "clean", set())
    evil = _with_v1_layout(hb.object_rows([b"\x80\x02N.", EVIL], chunks=(2,)))
    assert scan_summary(evil, "frame.h5")[1:] == ("malicious", {"MG-S101"})


# ---- PyTables pack ---------------------------------------------------------------------------------
def test_pytables_filters_are_admitted_and_nothing_else_of_pytables() -> None:
    assert {("tables.filters", "Filters"), ("tables.Leaf", "Filters")} <= DEFAULT_GLOBALS
    assert classify("tables.filters", "Filters") is Safety.SAFE
    assert classify("tables.filters", "utilsextension") is Safety.UNKNOWN
    assert classify("tables.file", "open_file") is not Safety.SAFE


def test_filters_attribute_next_to_a_dangerous_import_stays_malicious() -> None:
    filters = g.global_op("tables.Leaf", "Filters") + b")\x81" + g.value({"complevel": 1}, 2) + b"b0"
    value = g.pickle_of(filters + EVIL[2:-1], 2)
    _, verdict, rules = scan_summary(hb.pickled_attribute(value), "old.h5")
    assert verdict == "malicious" and "MG-S101" in rules


def test_numarray_in_a_pytables_attribute_stays_suspicious() -> None:
    """What the pack does not cover: numarray (PyTables 1.x's array library, dead since 2006, not reviewed)."""
    value = g.reduce_call("numarray.memory", "memory_from_string", b"\0" * 8)
    assert scan_summary(hb.pickled_attribute(value), "z.h5")[1:] == ("suspicious", {"MG-S102"})


# ---- text whose first line parses as JSON -----------------------------------------------------------
WORD_LIST = "[1]\n가락동\n가리봉동\n가산동\n".encode()
"""konlpy's open-korean-text word lists (``geolocations.txt`` inside its jar): a "[1]" line, then words."""


def test_word_list_whose_first_line_is_json_is_text() -> None:
    assert scan_summary(WORD_LIST, "geolocations.txt") == ("text", "clean", set())


def test_first_line_config_is_still_reviewed() -> None:
    data = b'{"auto_map": {"AutoModel": "modeling_x.Model"}}\nnot json\n'
    fmt, verdict, rules = scan_summary(data, "config.json")
    assert fmt == "text" and verdict == "suspicious" and "MG-S311" in rules


@pytest.mark.parametrize("data", [b'{"a": 1}{"b": 2}', b'{"a":\n 1}\nnot json\n', b'[1] words\nmore\n'])
def test_broken_json_documents_stay_unscannable(data: bytes) -> None:
    assert scan_summary(data, "config.json") == ("json", "unscannable", {"MG-S313"})


# ---- music21 pack -----------------------------------------------------------------------------------
def _m21(module: str, name: str, args: tuple[g.Arg, ...], state: bytes) -> bytes:
    """NEWOBJ of a music21 class with ``args``, then BUILD with ``state``, as its corpus cache pickles them."""
    return g.stack_global(module, name) + g.args_tuple(args) + b"\x81" + state + b"b"


def _metadata_cache(extra: bytes = b"") -> bytes:
    site_ref = _m21("music21.sites", "SiteRef", (), b"N" + g.value({"isDead": False, "siteIndex": 0}) + b"\x86")
    sites = _m21("music21.sites", "Sites", (), b"N" + b"(" + g.text("siteDict") + b"(" + g.text("0") + site_ref
                 + b"d" + b"d" + b"\x86")
    text = _m21("music21.metadata.primitives", "Text", (), g.value({"_data": "Bach", "_language": None}))
    meta = _m21("music21.metadata", "RichMetadata", (), b"(" + g.text("_contents") + b"(" + g.text("title")
                + b"(" + text + b"l" + b"d" + g.text("sites") + sites + b"d")
    entry = _m21("music21.metadata.bundles", "MetadataEntry", ("bach/bwv101.7.mxl", None, None),
                 g.value({"_corpusName": "core"}))
    bundle = _m21("music21.metadata.bundles", "MetadataBundle", (), b"(" + g.text("_metadataEntries")
                  + b"(" + g.text("bach_bwv101_7_mxl") + entry + b"d" + g.text("_name") + g.text("core") + b"d")
    return g.pickle_of(b"(" + bundle + meta + extra + b"l", 4)


def test_music21_metadata_cache_is_clean() -> None:
    assert scan_summary(_metadata_cache(), "core.p") == ("pickle", "clean", set())


def test_music21_cache_next_to_a_dangerous_import_stays_malicious() -> None:
    _, verdict, rules = scan_summary(_metadata_cache(EVIL[2:-1]), "core.p")
    assert verdict == "malicious" and "MG-S101" in rules


def test_music21_class_called_with_arguments_is_a_finding() -> None:
    data = g.reduce_call("music21.metadata.bundles", "MetadataBundle", "core")
    _, verdict, rules = scan_summary(data, "core.p")
    assert verdict == "suspicious" and rules == {"MG-S106"}


def test_music21_state_installing_a_dunder_is_malicious() -> None:
    state = b"N" + b"(" + g.text("__class__") + g.stack_global("music21.sites", "Sites") + b"d" + b"\x86"
    data = g.pickle_of(_m21("music21.sites", "SiteRef", (), state), 4)
    _, verdict, rules = scan_summary(data, "core.p")
    assert verdict == "malicious" and "MG-S107" in rules


def test_other_music21_modules_stay_unreviewed() -> None:
    assert classify("music21.converter", "parse") is not Safety.SAFE
    assert classify("music21.environment", "Environment") is not Safety.SAFE


# ---- NLTK and ObsPy packs ------------------------------------------------------------------------------
def _rebuilt4(module: str, name: str, state: bytes) -> bytes:
    """Protocol 4 as pickle.dump writes a plain object: NEWOBJ with no arguments, then BUILD."""
    return g.stack_global(module, name) + b")\x81" + state + b"b"


def _perceptron_tagger(extra: bytes = b"") -> bytes:
    model = _rebuilt4("nltk.tag.perceptron", "AveragedPerceptron",
                      b"(" + g.text("weights") + g.value({"bias": {"NN": 1}}) + g.text("i") + g.integer(0) + b"d")
    tagger = _rebuilt4("nltk.tag.perceptron", "PerceptronTagger",
                       b"(" + g.text("model") + model + g.text("tagdict") + g.value({"the": "DT"}) + b"d")
    return g.pickle_of(b"(" + tagger + extra + b"l", 4)


def _punkt() -> bytes:
    params = _rebuilt4("nltk.tokenize.punkt", "PunktParameters", g.value({"abbrev_types": ["dr", "mr"]}))
    lang = _rebuilt4("nltk.tokenize.punkt", "PunktLanguageVars", g.integer(1))
    token = g.stack_global("nltk.tokenize.punkt", "PunktToken")
    body = _rebuilt4("nltk.tokenize.punkt", "PunktSentenceTokenizer",
                     b"(" + g.text("_params") + params + g.text("_lang_vars") + lang + g.text("_Token") + token + b"d")
    return g.pickle_of(body, 4)


def test_nltk_tagger_and_punkt_pickles_are_clean() -> None:
    assert scan_summary(_perceptron_tagger(), "pos_tagger.pickle") == ("pickle", "clean", set())
    assert scan_summary(_punkt(), "english.pickle") == ("pickle", "clean", set())


def test_nltk_tagger_next_to_a_dangerous_import_stays_malicious() -> None:
    _, verdict, rules = scan_summary(_perceptron_tagger(EVIL[2:-1]), "pos_tagger.pickle")
    assert verdict == "malicious" and "MG-S101" in rules


@pytest.mark.parametrize(("module", "name"), [("nltk.tag.perceptron", "PerceptronTagger"),
                                              ("obspy.core.utcdatetime", "UTCDateTime")])
def test_pack_classes_called_with_arguments_are_findings(module: str, name: str) -> None:
    """PerceptronTagger(load=True) reads nltk_data: a pickle may rebuild one, never call it."""
    _, verdict, rules = scan_summary(g.reduce_call(module, name, "eng"), "x.pickle")
    assert verdict == "suspicious" and rules == {"MG-S106"}


def test_nltk_loaders_stay_unreviewed() -> None:
    assert classify("nltk.tokenize.punkt", "PunktTokenizer") is not Safety.SAFE  # reads nltk_data
    assert classify("nltk.data", "load") is not Safety.SAFE
    assert classify("nltk.tag.perceptron", "pathsec_open") is not Safety.SAFE


def test_utcdatetime_state_installing_a_dunder_is_malicious() -> None:
    data = g.pickle_of(_rebuilt4("obspy.core.utcdatetime", "UTCDateTime",
                                 b"(" + g.text("__class__") + g.stack_global("builtins", "object") + b"d"), 4)
    _, verdict, rules = scan_summary(data, "utc.pkl")
    assert verdict == "malicious" and "MG-S107" in rules


# ---- templates that load other templates -------------------------------------------------------------
def test_template_loading_tags_are_listed_not_failing() -> None:
    fmt, verdict, rules = scan_summary(b"{% include 'header.html.jinja' %}{{ title }}", "repr.html.jinja")
    assert (fmt, verdict, rules) == ("jinja", "clean", {"MG-S602"})


@pytest.mark.parametrize("template", [b"{% include 'h.jinja' %}{{ m.__class__ }}",
                                      b"{% extends 'b.jinja' %}{{ '{0.__globals__}'.format(f) }}"])
def test_loading_tag_next_to_an_escape_still_fails(template: bytes) -> None:
    _, verdict, rules = scan_summary(template, "chat_template.jinja")
    assert verdict in ("malicious", "suspicious") and rules & {"MG-S601", "MG-S602"}
    assert verdict != "clean"


@pytest.mark.parametrize("protocol", [0, 1])
def test_proto_0_or_1_that_calls_before_breaking_stays_malicious(protocol: int) -> None:
    """The run-of-opcodes threshold never hides what pickle.load has already called when it breaks."""
    body = g.global_op("os", "system") + g.args_tuple(("x",), 2) + b"R"
    _, verdict, rules = scan_summary(bytes([0x80, protocol]) + body + b"\x00\xff", "x.bin")
    assert verdict == "malicious" and "MG-S101" in rules


# ---- msgpack needs a text key ---------------------------------------------------------------------------
@pytest.mark.parametrize("key", [b"\xa4w\x14\x02\x1b", b"\xa3\xff\xfe\x00"])
def test_map_whose_first_key_is_not_text_is_not_msgpack(key: bytes) -> None:
    data = b"\x82" + key + random.Random(5).randbytes(2000)
    assert scan_summary(data, "model.bin")[0] == "unknown"


def test_msgpack_with_a_text_key_is_still_msgpack_and_its_pickles_are_found() -> None:
    """srsly / msgpack-numpy hand a bin payload that starts like a pickle to pickle.loads."""
    data = b"\x81\xa6params" + b"\xc4" + bytes([len(EVIL)]) + EVIL
    fmt, verdict, rules = scan_summary(data, "flax_model.msgpack")
    assert fmt == "msgpack" and verdict == "malicious" and "MG-S101" in rules


def test_pickle_inside_a_brotli_looking_file_is_found() -> None:
    data = read_published("lingua/pa-quadrigrams.json.br")
    fmt, verdict, rules = scan_summary(data[:5000] + EVIL + data[5000:], "quadrigrams.json.br")
    assert fmt == "unknown" and verdict == "malicious" and {"MG-S002", "MG-S101"} <= rules
