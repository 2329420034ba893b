"""Keras configs (.keras config.json) and the byte-search fallback for legacy .h5 files that do not
parse as HDF5; real .h5 files are in test_hdf5.py. Built without Keras; weights files by h5py."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from modelguard.cli import run
from modelguard.scan import scan_bytes, scan_source
from modelguard.scan.base import BytesSource, ScanContext
from modelguard.scan.keras import analyse_config
from tests.scan.h5build import keras_h5

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
WEIGHTS = keras_h5(None)


def _dense(name: str) -> dict[str, Any]:
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "config": {"name": name, "units": 4, "activation": {"module": "keras.activations",
                                                                "class_name": "function", "config": "relu",
                                                                "registered_name": "function"}}}


def _model(*layers: dict[str, Any]) -> dict[str, Any]:
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "sequential", "layers": [_dense("d0"), *layers]},
            "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {}}}}


LAMBDA3 = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
           "config": {"name": "lam", "function": {"class_name": "__lambda__",
                                                  "config": {"code": "4wEAAAAAAAAAAAAAAAEAAAAD", "defaults": None}}}}
LAMBDA2 = {"class_name": "Lambda", "config": {"name": "lambda_1", "function": ["4wEAAAAAAAAAAAAA", None, None],
                                              "function_type": "lambda", "module": "__main__"}}


def _rules(doc: Any) -> list[tuple[str, str]]:
    return [(f.rule, f.location) for f in analyse_config(doc, "")]


def test_plain_keras3_config_is_clean() -> None:
    assert _rules(_model(_dense("d1"))) == []


def test_keras3_lambda_is_one_malicious_finding() -> None:
    assert _rules(_model(LAMBDA3)) == [("MG-S501", "/config/layers/1")]
    assert "serialized lambda bytecode" in analyse_config(_model(LAMBDA3), "")[0].message
    named = {"class_name": "Lambda", "config": {"name": "l", "function": {
        "module": "builtins", "class_name": "function", "config": "print"}}}
    assert "(builtins.print)" in analyse_config(named, "")[0].message


def test_keras2_lambda_bytecode() -> None:
    found = analyse_config({"class_name": "Sequential", "config": {"layers": [LAMBDA2]}}, "model_config")
    assert [(f.rule, f.location) for f in found] == [("MG-S501", "model_config:/config/layers/0")]
    assert "marshalled bytecode" in found[0].message


@pytest.mark.parametrize(("obj", "rule"), [
    ({"module": "builtins", "class_name": "function", "config": "eval", "registered_name": "function"}, "MG-S502"),
    ({"module": "os", "class_name": "function", "config": "system"}, "MG-S502"),
    ({"module": "subprocess", "class_name": "Popen", "config": {}}, "MG-S502"),
    ({"module": "keras.config", "class_name": "function", "config": "enable_unsafe_deserialization"}, "MG-S502"),
    ({"module": "keras.utils", "class_name": "function", "config": "get_file"}, "MG-S502"),
    ({"module": "keras.layers", "class_name": "TFSMLayer", "config": {"filepath": "/tmp/evil_savedmodel"}},
     "MG-S502"),
    ({"class_name": "TorchModuleWrapper", "config": {"module": "gASV..."}}, "MG-S502"),
    ({"class_name": "TFOpLambda", "config": {"name": "tf.io.write_file", "function": "io.write_file"}}, "MG-S502"),
    ({"module": "my_company.layers", "class_name": "Custom", "config": {}}, "MG-S503"),
    ({"module": "keras.layers", "class_name": "Dense", "registered_name": "MyPkg>Dense", "config": {}}, "MG-S503"),
    ({"module": "keras.layers", "class_name": "StringLookup", "config": {"vocabulary": "/etc/passwd"}}, "MG-S504"),
    ({"module": "keras.layers", "class_name": "TextVectorization",
      "config": {"vocabulary": "https://example.invalid/v.txt"}}, "MG-S504"),
])
def test_code_carrying_and_escaping_objects(obj: dict[str, Any], rule: str) -> None:
    found = _rules(_model(obj))
    assert (rule, "/config/layers/1") in found or (rule, "/config/layers/1/config/vocabulary") in found, found


def test_safe_builtins_and_inline_vocabulary_are_clean() -> None:
    ok = {"module": "keras.layers", "class_name": "StringLookup", "config": {"vocabulary": ["a", "b"]}}
    fn = {"module": "builtins", "class_name": "function", "config": "max"}
    tf_op = {"class_name": "TFOpLambda", "config": {"name": "tf.math.add", "function": "math.add"}}
    assert _rules(_model(ok, fn, tf_op)) == []


def _keras_zip(config: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.6.0", "date_saved": "2025-01-01"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", WEIGHTS)
    return buf.getvalue()


def test_keras_config_member_reaches_json_scanner_by_content() -> None:
    # What the zip reader does with a .keras member: hand it to ctx.nested by content.
    with zipfile.ZipFile(io.BytesIO(_keras_zip(_model(LAMBDA3)))) as z:
        member = z.read("config.json")
    outcome = scan_source(ScanContext(depth=1), BytesSource(member, "model.keras!config.json"))
    assert outcome.format == "json"
    assert [(f.rule, f.location) for f in outcome.findings] == [
        ("MG-S501", "model.keras!config.json:/config/layers/1")]


def test_keras_zip_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = scan_bytes(_keras_zip(_model()), "clean.keras")
    assert clean.format == "keras" and clean.verdict.value == "clean", clean.findings
    p = tmp_path / "model.keras"
    p.write_bytes(_keras_zip(_model(LAMBDA3)))
    assert run(["scan", "--format", "json", str(p)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["verdict"] == "malicious"
    assert "MG-S501" in [f["rule"] for f in doc["findings"]]


# ---- legacy .h5 that is not HDF5: the byte-search fallback --------------------------------------

def _h5(attr_json: bytes | None, *, named: bool = True, tail: bytes = b"") -> bytes:
    # HDF5 in its signature only: an attribute-like run named model_config holding JSON text, the way a
    # fixed-length string attribute sits in a file, then raw bytes. The structural reader refuses it.
    out = HDF5_MAGIC + b"\0" * 88 + b"\x0c\x00\x14\x00"
    if named:
        out += b"model_config\0\0\0\0"
    if attr_json is not None:
        out += attr_json + b"\0" * 7
    return out + bytes(range(256)) * 16 + tail


def test_lambda_in_a_file_that_does_not_parse_is_still_found(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "model.h5"
    p.write_bytes(_h5(json.dumps({"class_name": "Sequential", "config": {"layers": [LAMBDA2]}}).encode()))
    assert run(["scan", "--format", "json", str(p)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["format"] == "keras-h5" and doc["files"][0]["verdict"] == "malicious"
    found = {(f["rule"], f["location"].split(":")[0]) for f in doc["findings"]}
    assert ("MG-S501", "model_config@offset 116") in found and ("MG-S510", "/") in found


def test_escaped_keys_and_late_config_are_found_by_the_fallback() -> None:
    text = json.dumps({"class_name": "Sequential", "config": {"layers": [LAMBDA2]}})
    text = text.replace('"class_name"', '"\\u0063lass_name"')
    r = scan_bytes(_h5(None, tail=b"\0" * 3_000_000 + text.encode()), "model.h5")
    assert [f.rule for f in r.findings] == ["MG-S510", "MG-S501"]


def test_a_file_that_is_hdf5_in_name_only_is_unscannable_even_when_it_looks_benign() -> None:
    for data in (_h5(json.dumps({"class_name": "Sequential", "config": {"layers": [_dense("d")]}}).encode()),
                 _h5(None, named=False), _h5(b'{"class_name": "Sequential", "config": {"layers": [{"cl')):
        r = scan_bytes(data, "model.h5")
        assert [f.rule for f in r.findings] == ["MG-S510"] and r.verdict.value == "unscannable"


def test_kerashub_preset_config_is_clean() -> None:
    backbone = {"module": "keras_hub.src.models.gemma.gemma_backbone", "class_name": "GemmaBackbone",
                "registered_name": "keras_hub>GemmaBackbone",
                "config": {"name": "gemma_backbone", "vocabulary_size": 256000, "num_layers": 18,
                           "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "bfloat16"},
                                     "registered_name": None}}}
    assert _rules(backbone) == []
