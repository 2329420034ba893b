"""GGUF: header and metadata framing built from the spec, chat templates, truncation."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from modelguard.cli import run
from modelguard.scan import scan_bytes

U32, I32, F32, BOOL, STRING, ARRAY, U64 = 4, 5, 6, 7, 8, 9, 10
BENIGN = "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] }}{% endfor %}"
EVIL = "{{ cycler.__init__.__globals__.os.popen('echo pwned').read() }}"


def _s(text: str | bytes, v: int = 3) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<I" if v == 1 else "<Q", len(raw)) + raw


def _value(vtype: int, value: Any, v: int = 3) -> bytes:
    if vtype == STRING:
        return _s(value, v)
    if vtype == ARRAY:
        etype, items = value
        return struct.pack("<I", etype) + struct.pack("<I" if v == 1 else "<Q", len(items)) + b"".join(
            _value(etype, i, v) for i in items)
    return struct.pack({U32: "<I", I32: "<i", F32: "<f", BOOL: "<?", U64: "<Q"}[vtype], value)


def gguf(kvs: list[tuple[str, int, Any]], tensors: int = 1, *, version: int = 3, alignment: int = 32) -> bytes:
    c = "<I" if version == 1 else "<Q"
    out = b"GGUF" + struct.pack("<I", version) + struct.pack(c, tensors) + struct.pack(c, len(kvs))
    for key, vtype, value in kvs:
        out += _s(key, version) + struct.pack("<I", vtype) + _value(vtype, value, version)
    for i in range(tensors):
        dims = struct.pack("<I" if version == 1 else "<Q", 4) * 2
        out += _s(f"blk.{i}.weight", version) + struct.pack("<I", 2) + dims + struct.pack("<I", 0)
        out += struct.pack("<Q", i * 64)
    out += b"\0" * (-len(out) % alignment)
    return out + b"\0" * 64 * tensors


def _kvs(template: str) -> list[tuple[str, int, Any]]:
    return [("general.architecture", STRING, "llama"), ("general.alignment", U32, 32),
            ("llama.context_length", U32, 4096), ("llama.rope.freq_base", F32, 10000.0),
            ("tokenizer.ggml.tokens", ARRAY, (STRING, ["<s>", "</s>", "a"])),
            ("tokenizer.ggml.scores", ARRAY, (F32, [0.0, 0.0, -1.0])),
            ("tokenizer.ggml.add_bos_token", BOOL, True),
            ("tokenizer.chat_template", STRING, template)]


def test_benign_gguf_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "model.gguf"
    p.write_bytes(gguf(_kvs(BENIGN)))
    assert run(["scan", "--format", "json", str(p)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["format"] == "gguf" and doc["files"][0]["verdict"] == "clean"


@pytest.mark.parametrize("version", [1, 2])
def test_older_versions_parse(version: int) -> None:
    assert scan_bytes(gguf(_kvs(BENIGN), version=version), "m.gguf").verdict.value == "clean"


def test_malicious_chat_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "model.gguf"
    p.write_bytes(gguf(_kvs(EVIL)))
    assert run(["scan", "--format", "json", str(p)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["files"][0]["verdict"] == "malicious"
    assert [(f["rule"], f["location"]) for f in doc["findings"]] == [("MG-S601", "tokenizer.chat_template")]


def test_named_template_variants_and_template_arrays() -> None:
    kvs = [*_kvs(BENIGN), ("tokenizer.chat_template.tool_use", STRING, EVIL),
           ("tokenizer.chat_templates", ARRAY, (STRING, ["rag", "tool_use"]))]
    r = scan_bytes(gguf(kvs), "m.gguf")
    assert [(f.rule, f.location) for f in r.findings] == [("MG-S601", "tokenizer.chat_template.tool_use")]


def test_template_shaped_string_under_any_key() -> None:
    r = scan_bytes(gguf([("general.description", STRING, EVIL)]), "m.gguf")
    assert [f.rule for f in r.findings] == ["MG-S601"]


def _unscannable(data: bytes) -> str:
    r = scan_bytes(data, "m.gguf")
    assert r.verdict.value == "unscannable", r.findings
    return " ".join(f"{f.rule} {f.message}" for f in r.findings)


def test_every_truncation_is_unscannable_never_clean() -> None:
    data = gguf(_kvs(BENIGN))
    header_end = len(data) - 64 - (-len(data) % 32)  # tensor data is not part of the checked framing
    for cut in range(5, header_end - 64, 7):
        r = scan_bytes(data[:cut], "m.gguf")
        assert r.verdict.value == "unscannable", cut
        assert {f.rule for f in r.findings} <= {"MG-S001", "MG-S003"}


def test_bad_version_and_counts() -> None:
    assert "version 4" in _unscannable(b"GGUF" + struct.pack("<IQQ", 4, 0, 0))
    assert "cannot fit" in _unscannable(b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 60) + b"\0" * 64)


def test_huge_string_length_is_refused_before_reading() -> None:
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 50 << 30) + b"x" * 64
    assert "runs past the end" in _unscannable(data)


def test_unknown_value_type() -> None:
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _s("k") + struct.pack("<I", 13) + b"\0" * 16
    assert "MG-S001" in _unscannable(data) and "unknown value type 13" in _unscannable(data)


def test_array_length_past_end_and_nesting_limit() -> None:
    big = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _s("a") + struct.pack("<IIQ", ARRAY, U64, 1 << 40) + b"\0" * 16
    assert "runs past the end" in _unscannable(big)
    nested: Any = (U32, [1])
    for _ in range(5):
        nested = (ARRAY, [nested])
    assert "MG-S003" in _unscannable(gguf([("deep", ARRAY, nested)], tensors=0))


def test_tensor_info_checks() -> None:
    assert "not a power of two" in _unscannable(gguf([("general.alignment", U32, 24)], tensors=0))
    bad_dims = gguf([], tensors=1).replace(b"\x02\x00\x00\x00\x04\x00", b"\x09\x00\x00\x00\x04\x00", 1)
    assert "9 dimensions" in _unscannable(bad_dims)
    short = gguf([], tensors=2)[:-64]  # second tensor's data is missing
    assert "past the end" in _unscannable(short)


def test_quantized_tensor_must_fill_whole_blocks() -> None:
    q4 = gguf([], tensors=1).replace(b"\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
                                     b"\x04\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00", 1)
    assert "not a multiple of its block of 32" in _unscannable(q4)
