"""``modelguard scan`` applies the project's policy, as fetch and verify do, and says which policy it used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.demo import artifacts

EVIL = b"\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."  # never loaded
CUSTOM_GLOBAL = b"\x80\x02cmylib\nThing\nq\x00)Rq\x01."  # imports mylib.Thing: not on the allowlist
PLAIN = b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s."  # a dict: a clean pickle
SAFETENSORS = artifacts.safetensors({"w": (4, 4)})
UNKNOWN = b"\0" * 8 + b"PK\x03\x04\x14\x00" + bytes(range(256)) * 4  # no known format, hides an archive header


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    return tmp_path


def _manifest(root: Path, policy: str, name: str = "modelguard.toml") -> Path:
    path = root / name
    path.write_text(f"[policy]\nallowed-orgs = [\"acme\"]\n{policy}", encoding="utf-8")
    return path


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def _rules(doc: dict) -> set[str]:
    return {f["rule"] for f in doc["findings"] if not f.get("suppressed")}


def test_require_safetensors_makes_scan_agree_with_verify(project: Path, capsys) -> None:
    (project / "models" / "pytorch_model.bin").write_bytes(PLAIN)
    assert run(["scan", "models"]) == 0  # no manifest here: the pickle itself is clean
    assert "policy: none (no modelguard.toml here" in capsys.readouterr().out
    _manifest(project, "require-safetensors = true\n")
    assert run(["scan", "models"]) == 1
    out = capsys.readouterr().out
    assert "modelguard.toml:3:1: MG-P010 high: models/pytorch_model.bin is pickle (pickle family) and " \
           "require-safetensors = true" in out
    assert "policy: modelguard.toml\n" in out
    assert run(["scan", "-f", "json", "models"]) == 1
    doc = _json(capsys)
    assert doc["policy"]["source"] == "modelguard.toml" and len(doc["policy"]["sha256"]) == 64
    assert run(["scan", "-f", "sarif", "models"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["runs"][0]["properties"]["modelguard"]["policy"] == doc["policy"]


def test_manifest_option_names_another_policy(project: Path, capsys) -> None:
    (project / "models" / "w.bin").write_bytes(PLAIN)
    (project / "ci").mkdir()
    _manifest(project / "ci", "allowed-file-types = [\"safetensors\"]\n")
    assert run(["scan", "--manifest", "ci/modelguard.toml", "models", "-f", "json"]) == 1
    doc = _json(capsys)
    assert _rules(doc) == {"MG-P015"} and doc["policy"]["source"] == "ci/modelguard.toml"
    assert run(["scan", "--manifest", "nowhere.toml", "models"]) == 2
    assert "no manifest at nowhere.toml" in capsys.readouterr().err


def test_a_shared_policy_file_is_named(project: Path, capsys) -> None:
    (project / "models" / "w.safetensors").write_bytes(SAFETENSORS)
    (project / "org-policy.toml").write_text("allowed-orgs = [\"acme\"]\nmax-file-size = 10\n", encoding="utf-8")
    (project / "modelguard.toml").write_text('policy-file = "org-policy.toml"\n', encoding="utf-8")
    assert run(["scan", "models", "-f", "json"]) == 1
    doc = _json(capsys)
    assert _rules(doc) == {"MG-P014"}
    assert doc["policy"]["source"] == f"{project / 'org-policy.toml'} (policy-file of modelguard.toml)"


def test_pickle_allowlist_additions_apply_only_when_scoped_to_everything(project: Path, capsys) -> None:
    (project / "models" / "w.pkl").write_bytes(CUSTOM_GLOBAL)
    assert run(["scan", "models", "-f", "json"]) == 1
    assert "MG-S102" in _rules(_json(capsys))
    entry = '\n[[policy.safe-globals]]\nmodule = "mylib"\nname = "Thing"\nscope = "{}"\nreason = "ours, reviewed"\n'
    _manifest(project, entry.format("acme"))  # scoped to an org: a loose file belongs to none
    assert run(["scan", "models", "-f", "json"]) == 1
    assert "MG-S102" in _rules(_json(capsys))
    _manifest(project, entry.format("*"))
    assert run(["scan", "models", "-f", "json"]) == 0
    assert _rules(_json(capsys)) == set()


def test_suppressions_and_fail_on_come_from_the_policy(project: Path, capsys, today) -> None:
    (project / "models" / "weights.bin").write_bytes(UNKNOWN)  # MG-S002 medium
    _manifest(project, 'fail-on = "high"\n')
    assert run(["scan", "models"]) == 0  # medium is below the policy's fail-on
    capsys.readouterr()
    assert run(["scan", "models", "--fail-on", "medium"]) == 1  # the flag still wins
    capsys.readouterr()
    _manifest(project, '\n[[policy.suppress]]\nrule = "MG-S002"\nscope = "models/*.bin"\n'
                       'reason = "vendor blob"\nexpires = 2099-01-01\n')
    assert run(["scan", "models"]) == 0
    assert "(suppressed: vendor blob" in capsys.readouterr().out
    today("2099-06-01")  # the suppression expired: the finding counts again, and so does MG-P900
    assert run(["scan", "models", "-f", "json"]) == 1
    assert {"MG-S002", "MG-P900"} <= _rules(_json(capsys))


def test_custom_code_under_deny_and_pins_that_do_nothing(project: Path, capsys) -> None:
    (project / "models" / "modeling_x.py").write_text("class M:\n    pass\n", encoding="utf-8")
    pin = '\n[[policy.remote-code]]\nrepo = "acme/m"\nfiles = {{ "modeling_x.py" = "{}" }}\n'.format("a" * 64)
    _manifest(project, 'trust-remote-code = "deny"\n' + pin)
    assert run(["scan", "models"]) == 1
    out = capsys.readouterr().out
    assert "modelguard.toml:3:1: MG-P011 high: " in out
    # README's old example: pins under "deny" do nothing; said once, at the pin, as a low finding.
    assert "modelguard.toml:5:1: MG-P016 low: [[policy.remote-code]] pins (acme/m) have no effect" in out


def test_a_broken_manifest_fails_the_scan_closed(project: Path, capsys) -> None:
    (project / "models" / "w.safetensors").write_bytes(SAFETENSORS)
    (project / "modelguard.toml").write_text("[policy]\nallowed-org = []\n", encoding="utf-8")
    assert run(["scan", "models"]) == 2
    assert "modelguard.toml:2" in capsys.readouterr().err


def test_lint_of_the_manifest_says_the_pins_do_nothing(project: Path, capsys) -> None:
    pin = '\n[[policy.remote-code]]\nrepo = "acme/m"\nfiles = {{ "modeling_x.py" = "{}" }}\n'.format("b" * 64)
    _manifest(project, 'trust-remote-code = "deny"\n' + pin)
    assert run(["lint", "modelguard.toml", "--fail-on", "low"]) == 1  # the pre-commit lint hook sees it too
    assert "modelguard.toml:5:1: MG-P016 low: " in capsys.readouterr().out
    _manifest(project, 'trust-remote-code = "allow-pinned"\n' + pin)
    assert run(["lint", "modelguard.toml", "--fail-on", "low"]) == 0
