"""``modelguard init``, ``add`` and ``remove`` through the CLI, against the loopback fake Hub.

Like ``uv add``: the manifest keeps its comments and layout, each edit is locked at once, and a lock
that fails (an org the policy refuses, a repo the Hub does not have) leaves the manifest as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.demo import artifacts
from modelguard.spec.edit import SEED_ORGS, starting_manifest
from modelguard.spec.lockfile import read_lockfile
from modelguard.spec.manifest import load_manifest
from tests.fakehub import FakeHub

CLEAN = {"config.json": artifacts.config("bert"), "model.safetensors": artifacts.safetensors({"w": (4, 4)})}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_init_writes_a_commented_starting_policy(project: Path, capsys) -> None:
    assert run(["init"]) == 0
    text = (project / "modelguard.toml").read_text(encoding="utf-8")
    assert text == starting_manifest()
    policy = load_manifest("modelguard.toml").policy
    assert policy.allowed_orgs == SEED_ORGS and {"mistralai", "meta-llama", "Qwen", "zai-org"} <= set(SEED_ORGS)
    assert policy.trust_remote_code == "deny" and policy.require_safetensors
    assert text.count("\n#") > 10  # commented: every setting says what it does
    assert "wrote modelguard.toml" in capsys.readouterr().out


def test_init_never_overwrites(project: Path, capsys) -> None:
    (project / "modelguard.toml").write_text("# mine\n", encoding="utf-8")
    assert run(["init"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and err.count("\n") == 1
    assert (project / "modelguard.toml").read_text(encoding="utf-8") == "# mine\n"


def test_add_appends_keeps_comments_and_locks(project: Path, fake_hub: FakeHub, capsys) -> None:
    commit = fake_hub.add_repo("google/tiny", CLEAN, lfs=["model.safetensors"])
    fake_hub.add_repo("google/other", CLEAN, tags=["v2"], lfs=["model.safetensors"])
    assert run(["init"]) == 0
    before = (project / "modelguard.toml").read_text(encoding="utf-8")
    # --endpoint after the subcommand, as people type it
    assert run(["add", "google/tiny", "--include", "*.safetensors", "--include", "*.json",
                "--endpoint", fake_hub.endpoint]) == 0
    out = capsys.readouterr().out
    assert "added [[hf-model]] 'tiny' to modelguard.toml" in out and commit in out
    after = (project / "modelguard.toml").read_text(encoding="utf-8")
    assert after.startswith(before)  # every comment and line of the file kept, the entry appended
    assert after[len(before):] == ('\n[[hf-model]]\nname = "tiny"\nrepo = "google/tiny"\nrevision = "main"\n'
                                   'include = ["*.safetensors", "*.json"]\n')
    assert run(["add", "google/other@v2", "--name", "other", "--endpoint", fake_hub.endpoint]) == 0
    assert run(["add", "--provider", "openai", "gpt-4o"]) == 0
    locked = read_lockfile("modelguard.lock")
    assert [m.name for m in locked.hf_models] == ["other", "tiny"]
    assert [(p.name, p.resolved) for p in locked.provider_models] == [("gpt-4o", "gpt-4o-2024-08-06")]
    assert run(["lock", "--check"]) == 0
    assert "is up to date (3 entries)" in capsys.readouterr().out


def test_a_refused_add_leaves_manifest_and_lock_as_they_were(project: Path, fake_hub: FakeHub, capsys) -> None:
    fake_hub.add_repo("google/tiny", CLEAN, lfs=["model.safetensors"])
    fake_hub.add_repo("unvetted/llm", CLEAN, lfs=["model.safetensors"])
    assert run(["init"]) == 0
    assert run(["--endpoint", fake_hub.endpoint, "add", "google/tiny"]) == 0
    manifest, lock = (project / "modelguard.toml").read_bytes(), (project / "modelguard.lock").read_bytes()
    capsys.readouterr()
    fake_hub.clear_requests()
    assert run(["--endpoint", fake_hub.endpoint, "add", "unvetted/llm"]) == 1  # org not in allowed-orgs
    err = capsys.readouterr().err
    assert "MG-P001" in err and "unvetted" in err
    assert not [r for r in fake_hub.requests if "unvetted" in r.path]  # refused before any request
    assert run(["--endpoint", fake_hub.endpoint, "add", "google/missing"]) == 2  # no such repo
    assert (project / "modelguard.toml").read_bytes() == manifest
    assert (project / "modelguard.lock").read_bytes() == lock


@pytest.mark.parametrize(
    ("args", "message"),
    [(["add", "google/tiny", "--name", "tiny"], "already has an entry named 'tiny'"),
     (["add", "google/tiny", "--name", "again"], "google/tiny@main is already in modelguard.toml as 'tiny'"),
     (["add", "not a repo"], "ORG/NAME"),
     (["add", "google/tiny@", "--name", "x"], "nothing after '@'"),
     (["add", "--provider", "nosuch", "gpt-4o"], "unknown provider"),
     (["add", "--provider", "openai", "gpt-4o", "--include", "*.json"], "a provider model has none"),
     (["remove", "nope"], "no entry named 'nope' in modelguard.toml; the entries are: tiny")],
)
def test_bad_edits_are_usage_errors_that_change_nothing(project: Path, fake_hub: FakeHub, capsys,
                                                        args: list[str], message: str) -> None:
    fake_hub.add_repo("google/tiny", CLEAN, lfs=["model.safetensors"])
    assert run(["init"]) == 0
    assert run(["--endpoint", fake_hub.endpoint, "add", "google/tiny"]) == 0
    manifest = (project / "modelguard.toml").read_bytes()
    capsys.readouterr()
    assert run(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert (project / "modelguard.toml").read_bytes() == manifest


def test_remove_drops_the_entry_and_its_lock_offline(project: Path, fake_hub: FakeHub, capsys) -> None:
    fake_hub.add_repo("google/tiny", CLEAN, lfs=["model.safetensors"])
    assert run(["init"]) == 0
    before = (project / "modelguard.toml").read_text(encoding="utf-8")
    assert run(["--endpoint", fake_hub.endpoint, "add", "google/tiny"]) == 0
    assert run(["add", "--provider", "anthropic", "claude-sonnet-4-6", "--name", "chat"]) == 0
    fake_hub.clear_requests()
    assert run(["remove", "tiny"]) == 0
    assert fake_hub.requests == []  # the other entries keep their pins: no request
    assert "removed [[hf-model]] 'tiny'" in capsys.readouterr().out
    locked = read_lockfile("modelguard.lock")
    assert locked.hf_models == () and [p.name for p in locked.provider_models] == ["chat"]
    assert run(["remove", "chat", "--no-lock"]) == 0
    assert (project / "modelguard.toml").read_text(encoding="utf-8") == before  # back to what init wrote
    assert run(["lock", "--check"]) == 1  # --no-lock: the lock is stale until `modelguard lock`


def test_add_without_a_manifest_says_run_init(project: Path, capsys) -> None:
    assert run(["add", "google/tiny"]) == 2
    assert "run `modelguard init`" in capsys.readouterr().err
