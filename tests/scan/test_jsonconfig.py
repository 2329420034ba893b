"""config.json / tokenizer_config.json: remote-code references and chat templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelguard.cli import run
from modelguard.scan import scan_bytes


def _scan(doc: Any, name: str = "config.json") -> tuple[str, list[tuple[str, str]]]:
    r = scan_bytes(json.dumps(doc).encode(), name)
    assert r.format == "json"
    return r.verdict.value, [(f.rule, f.location) for f in r.findings]


def _cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str) -> tuple[int, dict[str, Any]]:
    p = tmp_path / name
    p.write_text(text)
    code = run(["scan", "--format", "json", str(p)])
    return code, json.loads(capsys.readouterr().out)


def test_plain_config_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _cli(tmp_path, capsys, "config.json",
                     json.dumps({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 768}))
    assert code == 0 and doc["files"][0]["verdict"] == "clean" and doc["files"][0]["format"] == "json"


def test_auto_map_names_each_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = {"model_type": "tiny", "auto_map": {"AutoConfig": "configuration_tiny.TinyConfig",
                                              "AutoModelForCausalLM": "modeling_tiny.TinyForCausalLM",
                                              "AutoTokenizer": ["tokenization_tiny.TinyTokenizer", None]}}
    code, doc = _cli(tmp_path, capsys, "config.json", json.dumps(cfg))
    assert code == 1 and doc["files"][0]["verdict"] == "suspicious"
    got = [(f["rule"], f["severity"], f["location"]) for f in doc["findings"]]
    assert got == [("MG-S311", "medium", "auto_map.AutoConfig"),
                   ("MG-S311", "medium", "auto_map.AutoModelForCausalLM"),
                   ("MG-S311", "medium", "auto_map.AutoTokenizer")]
    assert "modeling_tiny.py" in doc["findings"][1]["message"]


def test_cross_repo_auto_map_is_higher() -> None:
    verdict, found = _scan({"auto_map": {"AutoModel": "other-org/other-repo--modeling_x.XModel"}})
    assert verdict == "suspicious" and found == [("MG-S312", "auto_map.AutoModel")]
    r = scan_bytes(json.dumps({"auto_map": {"AutoModel": "o/r--m.X"}}).encode(), "config.json")
    assert r.findings[0].severity.value == "high" and "repository o/r" in r.findings[0].message


def test_custom_pipelines_and_trust_remote_code_hint() -> None:
    cfg = {"custom_pipelines": {"pair-classification": {"impl": "custom_pipeline.PairPipeline",
                                                        "pt": ["AutoModelForSequenceClassification"]}},
           "trust_remote_code": True}
    verdict, found = _scan(cfg)
    assert verdict == "suspicious"
    assert found == [("MG-S311", "custom_pipelines.pair-classification"), ("MG-S311", "trust_remote_code")]


def test_trust_remote_code_hint_alone_is_info_only() -> None:
    r = scan_bytes(json.dumps({"trust_remote_code": True}).encode(), "config.json")
    assert r.verdict.value == "clean" and [f.severity.value for f in r.findings] == ["info"]


def test_auto_map_of_wrong_type_still_reported() -> None:
    assert _scan({"auto_map": "modeling_x.X"}) == ("suspicious", [("MG-S311", "auto_map")])


def test_malformed_json_is_low_unscannable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _cli(tmp_path, capsys, "config.json", '{"model_type": "bert",')
    assert code == 0  # low: a loader fails on it, nothing runs; visible in the report
    assert doc["files"][0]["verdict"] == "unscannable"
    assert [(f["rule"], f["severity"]) for f in doc["findings"]] == [("MG-S313", "low")]
    assert run(["scan", "--fail-on", "low", str(tmp_path / "config.json")]) == 1


def test_json_lines_are_not_malformed() -> None:
    r = scan_bytes(b'{"text": "a"}\n{"text": "b"}\n', "data.jsonl")
    assert r.format == "json" and r.verdict.value == "clean"


def test_deeply_nested_json_is_a_limit_finding() -> None:
    r = scan_bytes(b"[" * 100_000 + b"]" * 100_000, "x.json")
    assert [f.rule for f in r.findings] == ["MG-S003"]


BENIGN_TEMPLATE = ("{% for message in messages %}{% if message['role'] == 'system' %}{{ '<|system|>' + "
                   "message['content'] }}{% else %}{{ '<|' + message['role'] + '|>' + message['content'] }}"
                   "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}")
EVIL_TEMPLATE = "{{ cycler.__init__.__globals__.os.popen('echo pwned').read() }}"


def test_tokenizer_config_chat_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _cli(tmp_path, capsys, "tokenizer_config.json",
                     json.dumps({"chat_template": BENIGN_TEMPLATE, "eos_token": "</s>"}))
    assert code == 0 and doc["findings"] == []
    code, doc = _cli(tmp_path, capsys, "tokenizer_config.json", json.dumps({"chat_template": EVIL_TEMPLATE}))
    assert code == 1 and doc["files"][0]["verdict"] == "malicious"
    assert (doc["findings"][0]["rule"], doc["findings"][0]["location"]) == ("MG-S601", "chat_template")


def test_named_chat_templates_list() -> None:
    doc = {"chat_template": [{"name": "default", "template": BENIGN_TEMPLATE},
                             {"name": "tool_use", "template": EVIL_TEMPLATE}]}
    verdict, found = _scan(doc, "tokenizer_config.json")
    assert verdict == "malicious" and ("MG-S601", "chat_template[tool_use]") in found
    assert not any(loc == "chat_template[default]" for _, loc in found)


def test_diffusers_model_index_custom_components() -> None:
    plain = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0",
             "unet": ["diffusers", "UNet2DConditionModel"], "text_encoder": ["transformers", "CLIPTextModel"],
             "safety_checker": [None, None]}
    assert _scan(plain, "model_index.json") == ("clean", [])
    custom = dict(plain, _class_name=["pipeline_evil", "EvilPipeline"], unet=["my_unet", "MyUNet"])
    verdict, found = _scan(custom, "model_index.json")
    assert verdict == "suspicious" and found == [("MG-S311", "_class_name"), ("MG-S311", "unet")]


def test_sentence_transformers_modules_json() -> None:
    plain = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
             {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    assert _scan(plain, "modules.json") == ("clean", [])
    custom = [*plain, {"idx": 2, "name": "2", "path": "2_Custom", "type": "custom_module.Layer"}]
    assert _scan(custom, "modules.json") == ("suspicious", [("MG-S311", "[2].type")])


def test_nested_template_in_processor_config() -> None:
    verdict, found = _scan({"processor_class": "X", "tokenizer": {"chat_template": EVIL_TEMPLATE}},
                           "processor_config.json")
    assert verdict == "malicious" and found == [("MG-S601", "tokenizer.chat_template")]
