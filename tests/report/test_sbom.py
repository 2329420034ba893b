"""``modelguard sbom``: a CycloneDX 1.6 ML-BOM of the lockfile, valid under the CycloneDX library's strict validator."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from modelguard.cli import run
from modelguard.demo import artifacts
from tests.fakehub import FakeHub

CARD = b"""---
license: apache-2.0
base_model: google/bert-base
tags: [text-classification]
---
# tiny

A tiny classifier.
"""
EVIL = b"\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."  # never loaded
MANIFEST = """\
[policy]
allowed-orgs = ["acme"]
require-safetensors = true
fail-on = "medium"

[[hf-model]]
name = "tiny"
repo = "acme/tiny"

[[hf-model]]
name = "evil"
repo = "acme/evil"

[[provider-model]]
name = "chat"
provider = "openai"
model = "gpt-4o"
"""


def _validate(text: str) -> dict[str, Any]:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    doc: dict[str, Any] = json.loads(text)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    return doc


def _props(item: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in item.get("properties", [])}


@pytest.fixture
def project(tmp_path: Path, fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    commits = {
        "tiny": fake_hub.add_repo("acme/tiny", {"README.md": CARD, "config.json": artifacts.config("bert"),
                                                "model.safetensors": artifacts.safetensors({"w": (4, 4)})},
                                  lfs=["model.safetensors"]),
        "evil": fake_hub.add_repo("acme/evil", {"pytorch_model.bin": EVIL}, lfs=["pytorch_model.bin"]),
    }
    Path("modelguard.toml").write_text(MANIFEST, encoding="utf-8")
    assert run(["--endpoint", fake_hub.endpoint, "lock"]) == 0
    return commits


def test_sbom_of_a_fetched_project(project: dict[str, str], fake_hub: FakeHub, capsys) -> None:
    assert run(["fetch", "--endpoint", fake_hub.endpoint, "--cache-dir", "cache"]) == 1  # evil is refused
    capsys.readouterr()
    assert run(["sbom", "--cache-dir", "cache", "-o", "bom.json"]) == 0
    assert "wrote bom.json" in capsys.readouterr().err
    text = Path("bom.json").read_text(encoding="utf-8")
    doc = _validate(text)
    components = {c["bom-ref"]: c for c in doc["components"]}
    assert set(components) == {"tiny", "evil", "chat"}
    tiny = components["tiny"]
    assert tiny["type"] == "machine-learning-model" and (tiny["group"], tiny["name"]) == ("acme", "tiny")
    assert tiny["version"] == project["tiny"] and tiny["purl"] == f"pkg:huggingface/acme/tiny@{project['tiny']}"
    refs = {r["type"]: r["url"] for r in tiny["externalReferences"]}
    assert refs == {"website": "https://huggingface.co/acme/tiny",
                    "distribution": f"https://huggingface.co/acme/tiny/tree/{project['tiny']}"}
    files = {f["name"]: f for f in tiny["components"]}
    weights = artifacts.safetensors({"w": (4, 4)})
    assert files["model.safetensors"]["type"] == "file"
    assert files["model.safetensors"]["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256(weights).hexdigest()}]
    assert _props(files["model.safetensors"])["modelguard:verdict"] == "clean"
    # From the model card the verified cache holds: the licence and the base model.
    assert tiny["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert [a["name"] for a in tiny["pedigree"]["ancestors"]] == ["google/bert-base"]
    assert _props(tiny)["modelguard:status"] == "ok" and _props(tiny)["modelguard:intact"] == "true"
    evil = _props(components["evil"])
    assert evil["modelguard:status"] == "rejected" and "MG-H101" in evil["modelguard:rules"]
    chat = components["chat"]
    assert (chat["type"], chat["group"], chat["name"]) == ("machine-learning-model", "openai", "gpt-4o-2024-08-06")
    assert _props(chat)["modelguard:requested"] == "gpt-4o" and _props(chat)["modelguard:pin-kind"] == "dated"
    run_props = _props(doc["metadata"])
    assert run_props["modelguard:policy:require-safetensors"] == "true"
    assert run_props["modelguard:policy:allowed-orgs"] == "acme" and run_props["modelguard:verified"] == "true"
    assert run_props["modelguard:lockfile:sha256"] == hashlib.sha256(Path("modelguard.lock").read_bytes()).hexdigest()
    assert doc["metadata"]["tools"]["components"][0]["name"] == "modelguard"
    assert doc["metadata"]["timestamp"].startswith("2026-11-26")  # the pinned day, never the wall clock
    assert run(["sbom", "--cache-dir", "cache"]) == 0  # stdout, and the same document twice
    assert capsys.readouterr().out == text


def test_sbom_without_a_cache_describes_the_lock_only(project: dict[str, str], capsys) -> None:
    assert run(["sbom", "--cache-dir", "nowhere"]) == 0
    doc = _validate(capsys.readouterr().out)
    tiny = next(c for c in doc["components"] if c["bom-ref"] == "tiny")
    assert _props(tiny)["modelguard:status"] == "not-verified" and "licenses" not in tiny
    assert _props(doc["metadata"])["modelguard:verified"] == "false"
    assert {f["name"] for f in tiny["components"]} == {"README.md", "config.json", "model.safetensors"}


def test_sbom_needs_a_lockfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(["sbom"]) == 2
    assert "modelguard.lock" in capsys.readouterr().err
