"""ONNX: protobuf built by hand (no onnx dependency), external data inside and outside the folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.scan import scan_bytes
from modelguard.scan.onnx import escape_reason


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _field(number: int, payload: bytes | str | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    raw = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(raw)) + raw


def tensor(name: str, location: str | None = None) -> bytes:
    out = _field(1, 4) + _field(2, 1) + _field(8, name)  # dims, data_type FLOAT, name
    if location is None:
        return out + _field(9, b"\0" * 16)  # raw_data
    ext = [_field(13, _field(1, "location") + _field(2, location)),
           _field(13, _field(1, "offset") + _field(2, "0")),
           _field(13, _field(1, "length") + _field(2, "16"))]
    return out + b"".join(ext) + _field(14, 1)


def node(op: str, domain: str = "", attrs: bytes = b"") -> bytes:
    return _field(1, "x") + _field(2, "y") + _field(4, op) + (_field(7, domain) if domain else b"") + attrs


def graph(*parts: bytes) -> bytes:
    return _field(2, "main") + b"".join(parts)


def model(g: bytes, *extra: bytes) -> bytes:
    return (_field(1, 8) + _field(2, "pytorch") + _field(3, "2.5") + _field(7, g)
            + _field(8, _field(2, 17)) + b"".join(extra))


def _scan(data: bytes) -> tuple[str, list[tuple[str, str]]]:
    r = scan_bytes(data, "model.onnx")
    assert r.format == "onnx", r.findings
    return r.verdict.value, [(f.rule, f.location) for f in r.findings]


def test_inline_weights_are_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "model.onnx"
    p.write_bytes(model(graph(_field(1, node("Relu")), _field(5, tensor("w")))))
    assert run(["scan", "--format", "json", str(p)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["format"] == "onnx" and doc["files"][0]["verdict"] == "clean"


def test_external_data_beside_the_model_is_info() -> None:
    verdict, found = _scan(model(graph(_field(5, tensor("w", "model.onnx_data")))))
    assert verdict == "clean" and found == [("MG-S702", "graph/initializer 'w'")]


@pytest.mark.parametrize("location", ["/etc/passwd", "../../.ssh/id_rsa", "weights/../../x", "C:\\Windows\\x",
                                      "~/.aws/credentials", "file:///etc/shadow", "\\\\server\\share\\x"])
def test_escaping_external_data_is_malicious(location: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "model.onnx"
    p.write_bytes(model(graph(_field(1, node("MatMul")), _field(5, tensor("w", location)))))
    assert run(["scan", "--format", "json", str(p)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["verdict"] == "malicious"
    assert [(f["rule"], f["location"]) for f in doc["findings"]] == [("MG-S701", "graph/initializer 'w'")]


def test_external_data_in_subgraph_attribute_and_training_graph() -> None:
    then_branch = graph(_field(5, tensor("t", "/abs")))
    attr = _field(5, _field(1, "then_branch") + _field(6, then_branch) + _field(20, 5))
    const = _field(5, _field(1, "value") + _field(5, tensor("c", "../c.bin")))
    training = _field(20, _field(1, graph(_field(5, tensor("opt", "/opt/state")))))
    _, found = _scan(model(graph(_field(1, node("If", attrs=attr)), _field(1, node("Constant", attrs=const))),
                           training))
    assert ("MG-S701", "graph/node/subgraph/initializer 't'") in found
    assert ("MG-S701", "graph/node/attribute 'c'") in found
    assert ("MG-S701", "training_info/initializer 'opt'") in found


def test_sparse_initializer_values() -> None:
    sparse = _field(1, tensor("sv", "/x")) + _field(2, tensor("si"))
    _, found = _scan(model(graph(_field(15, sparse))))
    assert found == [("MG-S701", "graph/sparse_initializer 'sv'")]


def test_custom_domains() -> None:
    g = graph(_field(1, node("Attention", "com.microsoft")), _field(1, node("MyOp", "com.example.ops")),
              _field(1, node("Local", "local.fn")))
    func = _field(25, _field(1, "Local") + _field(10, "local.fn") + _field(7, node("Relu")))
    verdict, found = _scan(model(g, func))
    assert verdict == "suspicious" and found == [("MG-S703", "domain com.example.ops")]


@pytest.mark.parametrize("data", [
    _field(1, 8) + _field(2, "x") + b"\x3a\xff\xff\xff\x0f",    # graph longer than the file
    _field(1, 8) + _field(2, "x") + b"\x3a\x02\x0b\x00",       # group wire type inside the graph
    _field(1, 8) + _field(2, "x") + b"\x3a\x01\x80",           # truncated varint
    _field(1, 8) + _field(2, "pytorch"),                        # no graph
])
def test_unparsable_protobuf_is_unscannable(data: bytes) -> None:
    r = scan_bytes(data, "model.onnx")
    assert r.format == "onnx" and r.verdict.value == "unscannable"
    assert [f.rule for f in r.findings] == ["MG-S001"]


def test_escape_reason_allows_plain_relative_paths() -> None:
    assert escape_reason("weights/model.onnx_data") == ""
    assert escape_reason("a..b.bin") == ""
    assert escape_reason("") == "empty path"


def test_detected_when_ir_version_is_followed_by_training_info() -> None:
    g = graph(_field(5, tensor("w", "/etc/passwd")))
    data = _field(1, 8) + _field(20, _field(1, g)) + _field(7, graph())
    assert _scan(data) == ("malicious", [("MG-S701", "training_info/initializer 'w'")])


def test_external_data_file_beside_the_model_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model.onnx").write_bytes(model(graph(_field(5, tensor("w", "model.onnx_data")))))
    (tmp_path / "model.onnx_data").write_bytes(bytes(range(256)) * 64)
    assert run(["scan", "--format", "json", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {f["path"].rsplit("/", 1)[-1]: f["format"] for f in doc["files"]} == {
        "model.onnx": "onnx", "model.onnx_data": "onnx-external-data"}


def test_pickle_named_onnx_data_is_still_a_pickle() -> None:
    # Detection by content comes first: a protocol-2+ pickle is never waved through by its name.
    r = scan_bytes(b"\x80\x04\x95" + bytes(range(256)), "model.onnx_data")
    assert r.format != "onnx-external-data"


def test_same_subgraph_in_both_branches_is_reported_once() -> None:
    branch = graph(_field(5, tensor("t", "/abs")))
    attrs = (_field(5, _field(1, "then_branch") + _field(6, branch))
             + _field(5, _field(1, "else_branch") + _field(6, branch)))
    _, found = _scan(model(graph(_field(1, node("If", attrs=attrs)))))
    assert found == [("MG-S701", "graph/node/subgraph/initializer 't'")]
