"""The fixes the real files needed, each pinned by its failure mode: broken framing of the data
formats is unscannable (not clean), lookalikes are not taken for the real thing, and every
allowlist widening stays exactly as wide as documented.
"""

from __future__ import annotations

import json
import struct
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from modelguard.scan.pickle.allowlist import Safety, classify
from tests.scan.containers_build import Entry, build_zip, torch_zip
from tests.scan.picklegen import PAYLOAD, reduce_call
from tests.scan.realdata import read_real, scan_summary


# ---- broken framing is MG-S001 ----------------------------------------------------------------------
@pytest.mark.parametrize(("rel", "end"), [
    ("repo/logo.png", -20), ("repo/logo.jpg", 50), ("repo/photo_progressive.jpg", -2), ("repo/animated.gif", -1),
    ("repo/logo.gif", 30), ("repo/logo.webp", -10), ("repo/sample.wav", -10),
    ("repo/sample.flac", 60), ("repo/sample.ogg", 80), ("tokenizer/sentencepiece_bpe.model", -7),
    ("flax/flax_model.msgpack", -5), ("repo/paper.pdf", -10),
])
def test_truncated_real_data_file_is_unscannable(rel: str, end: int) -> None:
    fmt, verdict, rules = scan_summary(read_real(rel)[:end], Path(rel).name)
    assert verdict == "unscannable" and rules == {"MG-S001"}, (fmt, rules)


def test_bmp_and_tiff_claims_beyond_the_file() -> None:
    bmp = read_real("repo/logo.bmp")
    assert scan_summary(bmp[:-1], "logo.bmp")[1:] == ("unscannable", {"MG-S001"})
    tiff = bytearray(read_real("repo/logo.tiff"))
    tiff[4:8] = struct.pack("<I" if tiff[:1] == b"I" else ">I", len(tiff) + 100)
    assert scan_summary(bytes(tiff), "logo.tiff")[1:] == ("unscannable", {"MG-S001"})


def test_gif_header_only() -> None:
    assert scan_summary(b"GIF89a\x01\x00", "x.gif")[1:] == ("unscannable", {"MG-S001"})
    assert scan_summary(read_real("repo/logo.gif"), "x.gif")[:2] == ("image", "clean")


def _tflite(root: int, vtable_rel: int, size: int = 32) -> bytes:
    body = bytearray(size)
    body[:8] = struct.pack("<I", root) + b"TFL3"
    if root + 4 <= size:
        body[root:root + 4] = struct.pack("<i", vtable_rel)
    return bytes(body)


def test_tflite_framing() -> None:
    """No TFLite writer is installed here: FlatBuffers built by hand (root table at 16, vtable at 8)."""
    assert scan_summary(_tflite(16, 8), "model.tflite")[:2] == ("tflite", "clean")
    assert scan_summary(_tflite(400, 8), "model.tflite")[1:] == ("unscannable", {"MG-S001"})
    assert scan_summary(_tflite(16, -400), "model.tflite")[1:] == ("unscannable", {"MG-S001"})


def test_mp3_id3_tag_size() -> None:
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 0, 20]) + b"\0" * 20 + b"\xff\xfb\x90\x00" + b"\0" * 100
    assert scan_summary(tag, "sample.mp3")[:2] == ("audio", "clean")
    assert scan_summary(tag[:20], "sample.mp3")[1:] == ("unscannable", {"MG-S001"})
    assert scan_summary(b"ID3\x04\x00\x00\x80\x00\x00\x00" + b"\0" * 40, "a.mp3")[1:] == ("unscannable", {"MG-S001"})


# ---- lookalikes ------------------------------------------------------------------------------------
def test_graphdef_like_protobuf_is_not_a_sentencepiece_model() -> None:
    """A TF GraphDef also starts with field 1 whose field 1 is a string; its NodeDef's field 2
    (op) is a string where a piece has a float score. A node with no attrs is shaped like a
    mediapipe node too; whatever it is taken for, the file-reading op is reported, never clean
    (more in test_protobuf_family.py)."""
    node = b"\x0a\x04read" + b"\x12\x08ReadFile"
    fmt, verdict, rules = scan_summary(b"\x0a" + bytes([len(node)]) + node, "frozen_graph.pb")
    assert fmt != "sentencepiece" and verdict == "suspicious" and rules == {"MG-S711"}


def test_saved_model_protobuf_is_not_clean() -> None:
    """saved_model.pb (schema version 1, then a MetaGraphDef) is not analysed: never clean."""
    meta = b"\x0a\x04\x12\x02tf"
    assert scan_summary(b"\x08\x01\x12" + bytes([len(meta)]) + meta, "saved_model.pb")[1] == "unscannable"


@pytest.mark.parametrize(("text", "fmt"), [
    (b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n", "text"),
    (b'[\n  {"id": 1}\n]\n', "json"), (b"[1, 2]", "json"), (b"[true]", "json"), (b"[]", "json"),
    (b'["a"]', "json"), (b'{"a": 1}', "json"), (b"{\n  }", "json"), (b"[tool.ruff]\nline-length = 1\n", "text"),
    (b"{% for m in messages %}{{ m }}{% endfor %}", "text"),
])
def test_vocab_txt_is_text_and_json_arrays_stay_json(text: bytes, fmt: str) -> None:
    assert scan_summary(text, "vocab.txt")[0] == fmt


def test_image_named_as_python_is_reviewed_as_python() -> None:
    """A GIF header is a valid Python identifier: a polyglot named like model code is code."""
    polyglot = b"GIF89a=1\nimport os\nos.system('echo pwned')\n"
    fmt, verdict, rules = scan_summary(polyglot, "modeling_x.py")
    assert fmt == "python" and verdict == "malicious" and "MG-S315" in rules
    assert scan_summary(polyglot, "logo.gif")[:2] == ("image", "unscannable")


def test_msgpack_needs_a_string_key() -> None:
    assert scan_summary(b"\x81\x01\x02" + b"\0" * 16, "x.msgpack")[0] == "unknown"


# ---- allowlist widenings -------------------------------------------------------------------------
def test_torchscript_globals_are_exactly_as_wide_as_documented() -> None:
    assert classify("torch.jit._pickle", "build_intlist") is Safety.SAFE
    assert classify("torch.jit._pickle", "restore_type_tag") is Safety.SAFE
    assert classify("torch.jit._pickle", "load") is Safety.DANGEROUS
    assert classify("torch.jit", "load") is Safety.DANGEROUS
    assert classify("__torch__.torch.nn.modules.linear.___torch_mangle_0", "Linear") is Safety.SAFE
    assert classify("__torch__", "eval") is Safety.DANGEROUS
    assert classify("__torch__.os", "system") is Safety.DANGEROUS
    assert classify("__torch__.x", "helper") is Safety.UNKNOWN


def test_torchscript_code_outside_a_torchscript_archive_is_still_custom_code() -> None:
    entries = [Entry("archive/code/__torch__/m.py", b"def f(x: int) -> int:\n    return x\n")]
    fmt, verdict, rules = scan_summary(build_zip(entries), "x.zip")
    # reported as custom code (MG-S301), which is information in `scan` (issue 17)
    assert fmt == "zip" and verdict == "clean" and rules == {"MG-S301"}


def test_pt2_payload_that_is_not_raw_bytes_is_scanned() -> None:
    src = read_real("torch/exported.pt2")
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(src)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("weights/weight_1"):
                data = b"cos\nsystem\n(Vecho pwned\ntR."  # protocol 0: looks like text
            zout.writestr(info.filename, data)
    fmt, verdict, rules = scan_summary(out.getvalue(), "model.pt2")
    assert fmt == "pytorch-export" and verdict == "malicious" and "MG-S101" in rules


def test_raw_bytes_outside_pt2_weights_are_unknown() -> None:
    nested = torch_zip(extra=[Entry("archive/data/weights/w0", b"\x00\xff" * 40)])
    # not a pt2: no raw payload folder, so an unknown member (inert: informational, see test_unknown.py)
    assert scan_summary(nested, "model.pt")[2] == {"MG-S005"}
    other = build_zip([Entry("m/archive_format", b"pt2"), Entry("m/extra/blob", b"\x00\xff" * 40)])
    fmt, _verdict, rules = scan_summary(other, "model.pt2")
    assert fmt == "pytorch-export" and rules == {"MG-S005"}


def test_diffusers_block_types_are_not_components() -> None:
    config = json.loads(read_real("diffusers/unet/config.json"))
    assert config["down_block_types"] == ["DownBlock2D", "DownBlock2D"]
    assert scan_summary(json.dumps(config).encode(), "config.json")[1] == "clean"
    pipeline = json.loads(read_real("diffusers/model_index.json"))
    pipeline["unet"] = ["evil_module", "UNet2DModel"]
    _fmt, verdict, rules = scan_summary(json.dumps(pipeline).encode(), "model_index.json")
    assert verdict == "suspicious" and rules == {"MG-S311"}


def test_reduce_in_real_training_args_is_caught() -> None:
    """The training_args.bin allowlist pairs do not cover a __reduce__ payload beside them."""
    src = read_real("hf_bert/training_args.bin")
    with zipfile.ZipFile(BytesIO(src)) as z:
        name = next(n for n in z.namelist() if n.endswith("data.pkl"))
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(src)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, reduce_call("accelerate.state", "os.system", PAYLOAD)
                          if info.filename == name else zin.read(info.filename))
    assert scan_summary(out.getvalue(), "training_args.bin")[1] == "malicious"
