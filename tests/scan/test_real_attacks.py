"""Attacks injected into real files (tests/data/real) the way published attacks build them.

Each test takes a file a real library wrote, changes it as an attacker would (an extra pickle
member, a replaced data.pkl, a prefix pickle, a __reduce__ object spliced into a joblib stream,
a Lambda in a Keras config, a sandbox escape in a GGUF chat template, an external-data path out
of the ONNX model folder, a payload behind an image) and checks the verdict through the CLI.
Payloads are harmless strings built from opcodes; nothing is ever loaded.
"""

from __future__ import annotations

import bz2
import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest

from tests.scan.containers_build import Scanned
from tests.scan.picklegen import PAYLOAD, reduce_call, stack_global_call
from tests.scan.realdata import read_real

EVIL = reduce_call("os", "system", PAYLOAD)
EVIL4 = stack_global_call("posix", "system", PAYLOAD, protocol=4)
Scan = Callable[[bytes, str], Scanned]


def _rezip(src: bytes, *, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None,
           method: int = zipfile.ZIP_STORED) -> bytes:
    """The real archive's members, some replaced or added (Python's zipfile only copies bytes here)."""
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(src)) as zin, zipfile.ZipFile(out, "w", method) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, (replace or {}).get(info.filename, zin.read(info.filename)))
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return out.getvalue()


def _member(src: bytes, suffix: str) -> str:
    with zipfile.ZipFile(BytesIO(src)) as z:
        return next(n for n in z.namelist() if n.endswith(suffix))


# ---- torch zip / legacy -------------------------------------------------------------------------
def test_extra_pickle_member_in_real_torch_zip(scan_cli: Scan) -> None:
    src = read_real("hf_bert/pytorch_model.bin")
    r = scan_cli(_rezip(src, add={"pytorch_model/extra/hook.pkl": EVIL4}), "pytorch_model.bin")
    assert r.verdict == "malicious" and r.format == "pytorch-zip" and "MG-S101" in r.rules


def test_replaced_data_pkl_in_real_torch_zip(scan_cli: Scan) -> None:
    src = read_real("torch/state_dict.pt")
    r = scan_cli(_rezip(src, replace={_member(src, "/data.pkl"): EVIL}), "model.pt")
    assert r.verdict == "malicious" and "MG-S101" in r.rules


def test_pickle_prefixed_to_real_torch_zip(scan_cli: Scan) -> None:
    r = scan_cli(EVIL + read_real("torch/state_dict.pt"), "model.pt")
    assert r.verdict == "malicious" and "MG-S101" in r.rules


def test_pickle_appended_to_real_legacy_checkpoint(scan_cli: Scan) -> None:
    r = scan_cli(read_real("torch/state_dict_legacy.pt") + EVIL, "model.pt")
    assert r.verdict == "malicious" and r.format == "pytorch-legacy"


def test_malicious_constants_in_real_torchscript(scan_cli: Scan) -> None:
    src = read_real("torch/traced.pt")
    r = scan_cli(_rezip(src, replace={_member(src, "/constants.pkl"): EVIL}), "traced.pt")
    assert r.verdict == "malicious" and r.format == "torchscript" and "MG-S101" in r.rules


def test_real_torchscript_code_that_writes_files(scan_cli: Scan) -> None:
    src = read_real("torch/torchscript.pt")
    name = _member(src, "modules/activation.py")
    code = _rezip(src, replace={name: zipfile.ZipFile(BytesIO(src)).read(name) + (
        b"\ndef _hook(self) -> None:\n    ops.aten.save(torch.zeros([1]), \"/etc/cron.d/x\")\n")})
    r = scan_cli(code, "model.pt")
    assert r.verdict == "suspicious" and r.rules == {"MG-S317"}


def test_real_torchscript_setstate_that_writes_files_is_malicious(scan_cli: Scan) -> None:
    # __setstate__ runs inside torch.jit.load, so the file is written by loading alone (MG-S316);
    # a call from __setstate__ to another method counts the same.
    src = read_real("torch/torchscript.pt")
    name = _member(src, "modules/activation.py")
    code = _rezip(src, replace={name: zipfile.ZipFile(BytesIO(src)).read(name) + (
        b"\ndef __setstate__(self, state: Tuple[bool]) -> None:\n    self.training = state[0]\n"
        b"    self._restore()\n"
        b"def _restore(self) -> None:\n    _0 = torch.from_file(\"/etc/passwd\", True, 8)\n")})
    r = scan_cli(code, "model.pt")
    assert r.verdict == "malicious" and r.rules == {"MG-S316"}


def test_real_torchscript_code_with_python_process_calls(scan_cli: Scan) -> None:
    src = read_real("torch/torchscript.pt")
    name = _member(src, "modules/activation.py")
    code = _rezip(src, replace={name: b"import os\nos.system('echo pwned')\n"}, method=zipfile.ZIP_DEFLATED)
    r = scan_cli(code, "model.pt")
    assert r.verdict == "malicious" and "MG-S315" in r.rules


def test_pickle_as_weights_of_real_pt2(scan_cli: Scan) -> None:
    src = read_real("torch/exported.pt2")
    r = scan_cli(_rezip(src, replace={_member(src, "weights/weight_0"): EVIL}), "model.pt2")
    assert r.verdict == "malicious" and r.format == "pytorch-export" and "MG-S101" in r.rules


# ---- numpy / joblib ------------------------------------------------------------------------------
def _splice_reduce(real_pickle: bytes) -> bytes:
    """A ``__reduce__`` object before the real content: os.system(...) then POP, as a pickler
    writes an attacker's object that sits first in a list (PROTO kept, the real FRAMEs after)."""
    assert real_pickle[:1] == b"\x80"
    call = EVIL4[2:-1]  # STACK_GLOBAL posix.system, args, REDUCE (no PROTO, no STOP)
    return real_pickle[:2] + call + b"0" + real_pickle[2:]


def test_reduce_object_spliced_into_real_joblib(scan_cli: Scan) -> None:
    r = scan_cli(_splice_reduce(read_real("sklearn/pipeline.joblib")), "model.joblib")
    assert r.verdict == "malicious" and "MG-S101" in r.rules


@pytest.mark.parametrize("compress", [zlib.compress, bz2.compress])
def test_reduce_object_in_recompressed_real_joblib(scan_cli: Scan, compress: Callable[[bytes], bytes]) -> None:
    r = scan_cli(compress(_splice_reduce(read_real("sklearn/forest.joblib"))), "model.joblib")
    assert r.verdict == "malicious" and "MG-S101" in r.rules


def test_malicious_object_array_in_real_npy_header(scan_cli: Scan) -> None:
    src = read_real("numpy/object.npy")
    (header_len,) = struct.unpack("<H", src[8:10])
    r = scan_cli(src[:10 + header_len] + EVIL, "array.npy")
    assert r.verdict == "malicious" and r.format == "numpy"


def test_object_array_member_added_to_real_npz(scan_cli: Scan) -> None:
    npy_head = read_real("numpy/object.npy")
    (header_len,) = struct.unpack("<H", npy_head[8:10])
    r = scan_cli(_rezip(read_real("numpy/arrays.npz"), add={"evil.npy": npy_head[:10 + header_len] + EVIL}), "x.npz")
    assert r.verdict == "malicious" and "MG-S101" in r.rules


# ---- Keras ------------------------------------------------------------------------------------
def test_lambda_layer_in_real_keras_archive(scan_cli: Scan) -> None:
    src = read_real("keras/keras3.keras")
    config = json.loads(zipfile.ZipFile(BytesIO(src)).read("config.json"))
    config["config"]["layers"].append({"module": "keras.layers", "class_name": "Lambda", "config": {
        "name": "lambda", "function": {"class_name": "__lambda__", "config": {
            "code": "4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMMAAAAdABkAYMBAQB8AFMAKQJO", "defaults": None,
            "closure": None}}}, "registered_name": None})
    r = scan_cli(_rezip(src, replace={"config.json": json.dumps(config).encode()}), "model.keras")
    assert r.verdict == "malicious" and r.format == "keras" and "MG-S501" in r.rules


def test_lambda_layer_in_real_keras_h5(scan_cli: Scan) -> None:
    # Same-length edit of the model_config attribute, as a hex editor would make it.
    src = read_real("keras/keras3_legacy.h5")
    assert src.count(b'"class_name": "Dropout"') == 1
    r = scan_cli(src.replace(b'"class_name": "Dropout"', b'"class_name": "Lambda" '), "model.h5")
    assert r.verdict == "malicious" and r.format == "keras-h5" and "MG-S501" in r.rules


# ---- GGUF, ONNX ---------------------------------------------------------------------------------
def test_sandbox_escape_in_real_gguf_chat_template(scan_cli: Scan) -> None:
    src = read_real("gguf/llama3.gguf")
    key = src.index(b"tokenizer.chat_template") + len(b"tokenizer.chat_template")
    value_type, length = struct.unpack("<IQ", src[key:key + 12])
    assert value_type == 8  # GGUF string
    template = src[key + 12:key + 12 + length]
    assert b"<|start_header_id|>" in template
    escape = b"{{ cycler.__init__.__globals__.os.popen('echo pwned').read() }}"
    r = scan_cli(src.replace(template, escape.ljust(len(template))), "model.gguf")
    assert r.verdict == "malicious" and r.format == "gguf" and "MG-S601" in r.rules


def test_sandbox_escape_in_real_chat_template_jinja(scan_cli: Scan) -> None:
    src = read_real("hf_tokenizer/chat_template.jinja")
    evil = src.replace(b"{%- if tools %}", b"{%- if tools or lipsum.__globals__['os'].popen('echo pwned').read() %}", 1)
    assert evil != src
    r = scan_cli(evil, "chat_template.jinja")
    assert r.verdict == "malicious" and r.format == "jinja" and "MG-S601" in r.rules


def test_external_data_escaping_real_onnx_folder(scan_cli: Scan) -> None:
    src = read_real("onnx/external/model.onnx")
    assert src.count(b"model.onnx_data") == 2
    r = scan_cli(src.replace(b"model.onnx_data", b"../../etc/shado"), "model.onnx")
    assert r.verdict == "malicious" and r.format == "onnx" and "MG-S701" in r.rules


# ---- data formats that hide a payload -------------------------------------------------------------
def test_pickle_behind_real_png(scan_cli: Scan) -> None:
    r = scan_cli(read_real("repo/logo.png") + EVIL, "logo.png")
    assert r.verdict == "malicious" and r.format == "image" and {"MG-S206", "MG-S101"} <= r.rules


def test_torch_zip_behind_real_png(scan_cli: Scan) -> None:
    """An image + zip polyglot: zip readers find the archive from its end."""
    src = read_real("torch/state_dict.pt")
    evil_zip = _rezip(src, replace={_member(src, "/data.pkl"): EVIL})
    r = scan_cli(read_real("repo/logo.png") + evil_zip, "logo.png")
    assert r.verdict == "malicious" and "MG-S101" in r.rules


@pytest.mark.parametrize("rel", ["repo/photo_progressive.jpg", "repo/logo.jpg", "repo/animated.gif", "repo/logo.bmp",
                                 "repo/logo.webp", "repo/paper.pdf"])
def test_pickle_behind_real_image_or_pdf(scan_cli: Scan, rel: str) -> None:
    r = scan_cli(read_real(rel) + EVIL, Path(rel).name)
    assert r.verdict == "malicious" and {"MG-S206", "MG-S101"} <= r.rules


def test_pickle_behind_real_jpeg_ending_in_an_end_marker(scan_cli: Scan) -> None:
    """The trailing payload ends with FF D9 itself: the end is where the walk meets the first
    end-of-image marker, not the last FF D9 in the file."""
    r = scan_cli(read_real("repo/photo_progressive.jpg") + EVIL + b"\xff\xd9", "photo.jpg")
    assert r.verdict != "clean" and "MG-S206" in r.rules


def test_pickle_behind_real_wav(scan_cli: Scan) -> None:
    r = scan_cli(read_real("repo/sample.wav") + EVIL, "sample.wav")
    assert r.verdict == "malicious" and r.format == "audio" and "MG-S206" in r.rules


@pytest.mark.parametrize("wrap", [b"\xc4", b"\xc7"])  # bin 8 (msgpack-numpy object array), ext 8
def test_pickle_inside_a_value_of_real_flax_msgpack(scan_cli: Scan, wrap: bytes) -> None:
    src = read_real("flax/flax_model.msgpack")
    assert src[:1] == b"\x81"  # {"params": ...}: add a second key whose value is a pickle
    value = wrap + bytes([len(EVIL4)]) + (b"\x05" if wrap == b"\xc7" else b"") + EVIL4
    r = scan_cli(b"\x82" + src[1:] + b"\xa3opt" + value, "flax_model.msgpack")
    assert r.verdict == "malicious" and r.format == "msgpack" and "MG-S101" in r.rules


def test_pickle_behind_real_msgpack_is_not_clean(scan_cli: Scan) -> None:
    r = scan_cli(read_real("flax/flax_model.msgpack") + EVIL, "flax_model.msgpack")
    assert r.verdict == "unscannable" and r.rules == {"MG-S001"}


def test_protocol0_pickle_named_like_a_tokenizer_model(scan_cli: Scan) -> None:
    r = scan_cli(b"cos\nsystem\n(Vecho pwned\ntR.", "tokenizer.model")
    assert r.verdict == "malicious" and r.format == "pickle"
