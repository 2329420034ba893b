"""The protobuf family and TensorFlow/CoreML/TFLite files: real published files are recognised and
clean; their malicious twins (a graph with PyFunc, file ops, Keras Lambda metadata, a TFLite whose
zip holds a pickle, escaping external data, custom CoreML code) are findings."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.scan import scan_bytes
from modelguard.scan.detect import detect
from tests.scan import picklegen as g
from tests.scan import protobuild as pb
from tests.scan.realdata import read_published, scan_summary

LAMBDA = {"class_name": "Lambda", "config": {"name": "lambda_1", "function": ["4wEAAAAAAAAAAAAA", None, None],
                                             "function_type": "lambda", "module": "__main__"}}


@pytest.mark.parametrize(("rel", "fmt"), [
    ("onnx-tensor/batchnorm_input_0.pb", "onnx-tensor"),
    ("onnx-tensor/gradient_of_add_input_0.pb", "onnx-tensor"),
    ("onnx-tensor/sequence_output_0.pb", "onnx-tensor"),
    ("mediapipe/face_detection_short_range_cpu.binarypb", "mediapipe-graph"),
    ("mediapipe/selfie_segmentation.tflite", "tflite"),
    ("coreml/model.mlmodel", "coreml"),
    ("coreml/weight.bin", "coreml-weights"),
    ("tf-checkpoint/variables.index", "tf-checkpoint-index"),
])
def test_published_files_are_recognised_and_clean(rel: str, fmt: str) -> None:
    assert scan_summary(read_published(rel), Path(rel).name) == (fmt, "clean", set())


def test_recognition_is_by_content_not_name() -> None:
    assert scan_summary(read_published("coreml/model.mlmodel"), "weights.bin")[0] == "coreml"
    assert scan_summary(read_published("onnx-tensor/batchnorm_input_0.pb"), "x.dat")[0] == "onnx-tensor"


def test_saved_model_and_coreml_are_not_taken_for_onnx() -> None:
    """All three start 08 xx 12: a SavedModel and a CoreML model used to be "ONNX without a graph"."""
    sm = pb.saved_model(pb.graph(pb.node("a", "Const"), pb.node("b", "AddV2", "a", "a")))
    assert scan_summary(sm, "saved_model.pb") == ("tf-savedmodel", "clean", set())
    head = read_published("coreml/model.mlmodel")[:4096]
    assert detect(head, head, len(read_published("coreml/model.mlmodel")), "model.mlmodel").value == "coreml"


# ---- TensorFlow graphs -------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["PyFunc", "EagerPyFunc", "PyFuncStateless"])
def test_saved_model_with_python_op_is_a_finding(op: str) -> None:
    sm = pb.saved_model(pb.graph(pb.node("x", "Placeholder"), pb.node("evil", op, "x")))
    fmt, verdict, rules = scan_summary(sm, "saved_model.pb")
    assert fmt == "tf-savedmodel" and verdict == "suspicious" and rules == {"MG-S710"}


def test_python_op_inside_the_function_library_is_found() -> None:
    fn = pb.function("__inference_serve_12", pb.node("cb", "EagerPyFunc", "x"))
    sm = pb.saved_model(pb.graph(pb.node("x", "Placeholder"), functions=(fn,)))
    r = scan_bytes(sm, "saved_model.pb")
    assert {f.rule for f in r.findings} == {"MG-S710"}
    assert "__inference_serve_12" in r.findings[0].location


@pytest.mark.parametrize("op", ["ReadFile", "WriteFile", "MatchingFiles"])
def test_graph_with_file_op_is_a_finding(op: str) -> None:
    frozen = pb.graph(pb.node("path", "Const"), pb.node("io", op, "path"))
    fmt, verdict, rules = scan_summary(frozen, "frozen_graph.pb")
    assert fmt == "tf-graphdef" and verdict == "suspicious" and rules == {"MG-S711"}


def test_checkpoint_ops_of_every_saved_model_are_not_findings() -> None:
    sm = pb.saved_model(pb.graph(pb.node("p", "Const"), pb.node("save", "SaveV2", "p"),
                                 pb.node("restore", "RestoreV2", "p")))
    assert scan_summary(sm, "saved_model.pb") == ("tf-savedmodel", "clean", set())


def test_keras_lambda_in_saved_model_metadata_is_malicious() -> None:
    sm = pb.saved_model(pb.graph(pb.node("x", "Const")),
                        keras_metadata={"class_name": "Sequential", "config": {"layers": [LAMBDA]}})
    fmt, verdict, rules = scan_summary(sm, "saved_model.pb")
    assert fmt == "tf-savedmodel" and verdict == "malicious" and "MG-S501" in rules


def test_python_op_hidden_in_another_protobuf_is_still_found() -> None:
    """A graph that identification takes for a mediapipe graph or an ONNX value still reports its op."""
    node = pb.node("cb", "EagerPyFunc", attr=False)
    fmt, verdict, rules = scan_summary(pb.lfield(1, node), "graph.binarypb")
    assert verdict == "suspicious" and rules == {"MG-S710"}, fmt
    tensor = pb.onnx_tensor((4,), b"\0" * 4 + pb.lfield(2, "PyFunc") + b"\0" * 4)
    assert scan_summary(tensor, "input_0.pb")[::2] == ("onnx-tensor", {"MG-S710"})
    # no layout fits at all: the unknown-binary net (MG-S002) reports it instead
    assert scan_summary(b"\xff\x00" + pb.lfield(2, "EagerPyFunc"), "blob.bin")[2] == {"MG-S002"}


def test_truncated_saved_model_is_unscannable() -> None:
    sm = pb.saved_model(pb.graph(pb.node("a", "Const"), pb.node("b", "AddV2", "a", "a")))
    assert scan_summary(sm[:-5], "saved_model.pb")[1:] == ("unscannable", {"MG-S001"})


# ---- TF checkpoints ----------------------------------------------------------------------------
def test_checkpoint_index_with_handles_outside_is_unscannable() -> None:
    data = bytearray(read_published("tf-checkpoint/variables.index"))
    data[-48:-40] = pb.varint(10**9) + pb.varint(5) + b"\0" * (8 - len(pb.varint(10**9)) - 1)
    assert scan_summary(bytes(data), "variables.index")[1:] == ("unscannable", {"MG-S001"})


def test_checkpoint_shard_named_file_that_is_a_pickle_is_scanned_as_one() -> None:
    evil = g.reduce_call("os", "system", protocol=0)
    fmt, verdict, rules = scan_summary(evil, "variables.data-00000-of-00001")
    assert fmt == "pickle" and verdict == "malicious" and "MG-S101" in rules
    noise = b"\x00\x01\x02\x03" * 64
    assert scan_summary(noise, "variables.data-00000-of-00001")[:2] == ("tf-checkpoint-data", "clean")


# ---- ONNX tensors ------------------------------------------------------------------------------
def test_onnx_tensor_external_data_outside_the_folder_is_malicious() -> None:
    tensor = pb.onnx_tensor((4,), b"", location="../../../etc/passwd")
    fmt, verdict, rules = scan_summary(tensor, "input_0.pb")
    assert fmt == "onnx-tensor" and verdict == "malicious" and rules == {"MG-S701"}
    inside = pb.onnx_tensor((4,), b"", location="input_0.bin")
    assert scan_summary(inside, "input_0.pb")[2] == {"MG-S702"}


def test_onnx_tensor_with_broken_framing_is_unscannable() -> None:
    """Identified from its head, broken further on: MG-S001. (Cut inside the head, nothing claims
    the bytes any more: an inert unknown, MG-S005.)"""
    tensor = pb.onnx_tensor((2500,), b"\0" * 10_000) + pb.key(12, 2) + pb.varint(50) + b"doc"
    assert scan_summary(tensor, "input_0.pb") == ("onnx-tensor", "unscannable", {"MG-S001"})
    data = read_published("onnx-tensor/batchnorm_input_0.pb")
    assert scan_summary(data[:-100], "input_0.pb") == ("unknown", "clean", {"MG-S005"})


# ---- CoreML ------------------------------------------------------------------------------------
def test_coreml_custom_model_and_custom_layer_need_native_code() -> None:
    custom = pb.lfield(555, pb.lfield(10, "MyNativeModel"))
    fmt, verdict, rules = scan_summary(pb.coreml_model(custom), "model.mlmodel")
    assert fmt == "coreml" and verdict == "suspicious" and rules == {"MG-S712"}
    layer = pb.lfield(1, pb.lfield(1, "l0") + pb.lfield(500, pb.lfield(10, "MyLayer")))
    assert scan_summary(pb.coreml_model(pb.lfield(500, layer)), "model.mlmodel")[2] == {"MG-S712"}


def test_coreml_custom_model_inside_a_pipeline_is_found() -> None:
    inner = pb.coreml_model(pb.lfield(555, pb.lfield(10, "Deep")))
    pipeline = pb.lfield(202, pb.lfield(1, inner))
    assert scan_summary(pb.coreml_model(pipeline), "model.mlmodel")[2] == {"MG-S712"}


def test_coreml_linked_model_outside_the_package_is_a_finding() -> None:
    linked = pb.lfield(556, pb.lfield(1, pb.lfield(1, pb.lfield(1, "/etc/other.mlmodelc"))))
    fmt, verdict, rules = scan_summary(pb.coreml_model(linked), "model.mlmodel")
    assert fmt == "coreml" and verdict == "suspicious" and rules == {"MG-S713"}


def test_coreml_weights_out_of_bounds_are_unscannable() -> None:
    data = bytearray(read_published("coreml/weight.bin"))
    data[64 + 8:64 + 16] = struct.pack("<Q", 1 << 40)
    assert scan_summary(bytes(data), "weight.bin")[1:] == ("unscannable", {"MG-S001"})


# ---- mediapipe ---------------------------------------------------------------------------------
def test_mediapipe_graph_is_clean_and_a_broken_one_unscannable() -> None:
    data = pb.mediapipe_graph("ImageTransformationCalculator", "TfLiteInferenceCalculator")
    assert scan_summary(data, "graph.binarypb") == ("mediapipe-graph", "clean", set())
    assert scan_summary(data[:-3], "graph.binarypb")[1] == "unscannable"


# ---- TFLite with associated files --------------------------------------------------------------
def _tflite_with(members: dict[str, bytes]) -> bytes:
    real = read_published("mediapipe/selfie_segmentation.tflite")
    flatbuffer = real[:real.find(b"PK\x03\x04")]
    out = io.BytesIO(flatbuffer)
    out.seek(0, 2)
    with zipfile.ZipFile(out, "a") as z:  # what tflite-support's metadata writer does
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def test_tflite_with_label_files_is_clean() -> None:
    data = _tflite_with({"labels.txt": b"background\nperson\n"})
    assert scan_summary(data, "model.tflite") == ("tflite", "clean", set())


def test_tflite_whose_zip_holds_a_pickle_is_malicious() -> None:
    data = _tflite_with({"labels.txt": b"a\n", "vocab.pkl": g.reduce_call("os", "system")})
    fmt, verdict, rules = scan_summary(data, "model.tflite")
    assert fmt == "tflite" and verdict == "malicious" and "MG-S101" in rules and "MG-S202" not in rules


def test_zip_after_something_that_is_not_tflite_is_still_reported() -> None:
    data = _tflite_with({"labels.txt": b"a\n"})
    assert "MG-S202" in scan_summary(b"XXXXJUNK" + data[8:], "model.tflite")[2]


def test_cli_exit_codes_for_a_twin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.tflite", tmp_path / "bad.tflite"
    good.write_bytes(_tflite_with({"labels.txt": b"a\n"}))
    bad.write_bytes(_tflite_with({"x.pkl": g.reduce_call("os", "system")}))
    assert run(["scan", str(good)]) == 0
    assert run(["scan", str(bad)]) == 1
    assert "MG-S101" in capsys.readouterr().out
