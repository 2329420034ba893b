"""Revocation: target syntax, the check fetch/verify/snapshot make, the policy edit, eviction, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomlkit

from modelguard.cli import run
from modelguard.errors import ConfigError, ExitCode, RevokedError, UsageError
from modelguard.spec.types import Policy, Revocation
from modelguard.store import audit
from modelguard.trust import revocation
from tests.trust_cache import admit, holds

C1, C2 = "a" * 40, "b" * 40
BAD_SHA = "f" * 64
MANIFEST = """# our models
[policy]
allowed-orgs = ["acme"]   # reviewed 2026-10
fail-on = "medium"

[[hf-model]]
name = "bert"
repo = "acme/tiny-bert"
"""


def test_parse_target() -> None:
    assert revocation.parse_target(f"acme/tiny-bert@{C1}") == revocation.Target(repo="acme/tiny-bert", commit=C1)
    assert revocation.parse_target(f"sha256:{BAD_SHA}") == revocation.Target(sha256=BAD_SHA)
    assert str(revocation.parse_target(f" sha256:{BAD_SHA} ")) == f"sha256:{BAD_SHA}"


@pytest.mark.parametrize("text", [
    "acme/tiny-bert", "acme/tiny-bert@main", f"acme/tiny-bert@{C1.upper()}", f"acme@{C1}", f"a/b/c@{C1}",
    f"../x@{C1}", "sha256:abc", f"sha256:{BAD_SHA.upper()}", f"sha1:{C1}", "",
])
def test_invalid_targets(text: str) -> None:
    with pytest.raises(UsageError):
        revocation.parse_target(text)


def test_is_revoked_and_findings() -> None:
    policy = Policy(revoked=(
        Revocation(target=f"acme/tiny-bert@{C1}", reason="CVE-2026-1: pickle payload", date="2026-11-20", line=9),
        Revocation(target=f"sha256:{BAD_SHA}", reason="backdoored tokenizer", date="2026-11-21", line=13),
    ), source="modelguard.toml")
    hit = revocation.is_revoked(policy, "acme/tiny-bert", C1, [])
    assert hit is not None and hit.reason.startswith("CVE-2026-1")
    assert revocation.is_revoked(policy, "acme/tiny-bert", C2, ["0" * 64]) is None
    assert revocation.is_revoked(policy, "acme/other", C1, []) is None
    by_file = revocation.is_revoked(policy, "acme/other", C2, [BAD_SHA.upper()])
    assert by_file is not None and by_file.reason == "backdoored tokenizer"

    found = revocation.revocation_findings(policy, "acme/tiny-bert", C1, {"a.json": BAD_SHA}, model="bert")
    assert [f.rule for f in found] == ["MG-P501", "MG-P502"]
    assert "CVE-2026-1" in found[0].message and found[0].location == "modelguard.toml:9"
    assert found[1].path == "a.json" and found[1].model == "bert"
    with pytest.raises(RevokedError) as e:
        revocation.check_not_revoked(policy, "acme/tiny-bert", C1, {})
    assert e.value.exit_code == ExitCode.REJECTED and e.value.rule == "MG-P501" and "CVE-2026-1" in str(e.value)
    revocation.check_not_revoked(policy, "acme/tiny-bert", C2, {"x": "0" * 64})  # does not raise


def test_add_revocation_to_manifest_keeps_formatting(tmp_path: Path) -> None:
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text(MANIFEST)
    target = revocation.parse_target(f"acme/tiny-bert@{C1}")
    entry = revocation.add_revocation(manifest, target, "found malicious", date="2026-11-25")
    assert entry == Revocation(target=f"acme/tiny-bert@{C1}", reason="found malicious", date="2026-11-25")
    text = manifest.read_text()
    assert text.startswith(MANIFEST.split("[[hf-model]]")[0].rstrip("\n"))  # comments and order unchanged
    assert "# reviewed 2026-10" in text
    doc = tomlkit.parse(text).unwrap()
    assert doc["policy"]["revoked"] == [{"target": f"acme/tiny-bert@{C1}", "reason": "found malicious",
                                         "date": __import__("datetime").date(2026, 11, 25)}]
    assert doc["hf-model"][0]["name"] == "bert"
    # revoking again keeps the first entry
    again = revocation.add_revocation(manifest, target, "other words", date="2026-12-01")
    assert again.reason == "found malicious" and manifest.read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == ["modelguard.toml"]  # no temp file left behind


def test_add_revocation_creates_policy_table(tmp_path: Path) -> None:
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text('[[hf-model]]\nname = "bert"\nrepo = "acme/tiny-bert"\n')
    revocation.add_revocation(manifest, revocation.parse_target(f"sha256:{BAD_SHA}"), "bad", date="2026-11-25")
    doc = tomlkit.parse(manifest.read_text()).unwrap()
    assert doc["policy"]["revoked"][0]["target"] == f"sha256:{BAD_SHA}"


def test_policy_file_of_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "org").mkdir()
    shared = tmp_path / "org" / "policy.toml"
    shared.write_text('# org-wide\nallowed-orgs = ["acme"]\n')
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text('policy-file = "org/policy.toml"\n')
    file = revocation.policy_file_to_edit(manifest, None)
    assert file == shared
    revocation.add_revocation(file, revocation.parse_target(f"acme/tiny-bert@{C1}"), "bad", date="2026-11-25")
    doc = tomlkit.parse(shared.read_text()).unwrap()
    assert doc["revoked"][0]["reason"] == "bad" and doc["allowed-orgs"] == ["acme"]
    assert manifest.read_text() == 'policy-file = "org/policy.toml"\n'
    with pytest.raises(ConfigError, match="policy-file"):
        revocation.add_revocation(manifest, revocation.parse_target(f"acme/tiny-bert@{C1}"), "bad")


def test_wrapped_policy_file(tmp_path: Path) -> None:
    shared = tmp_path / "policy.toml"
    shared.write_text('[policy]\nallowed-orgs = ["acme"]\n')
    revocation.add_revocation(shared, revocation.parse_target(f"acme/tiny-bert@{C1}"), "bad", date="2026-11-25")
    assert tomlkit.parse(shared.read_text()).unwrap()["policy"]["revoked"][0]["target"].endswith(C1)


def test_add_revocation_refuses(tmp_path: Path) -> None:
    target = revocation.parse_target(f"acme/tiny-bert@{C1}")
    broken = tmp_path / "broken.toml"
    broken.write_text("[policy\n")
    with pytest.raises(ConfigError):
        revocation.add_revocation(broken, target, "x")
    assert broken.read_text() == "[policy\n"
    with pytest.raises(ConfigError):
        revocation.add_revocation(tmp_path / "absent.toml", target, "x")
    ok = tmp_path / "ok.toml"
    ok.write_text("allowed-orgs = []\n")
    with pytest.raises(UsageError):
        revocation.add_revocation(ok, target, "   ")
    assert ok.read_text() == "allowed-orgs = []\n"


# --- eviction ---------------------------------------------------------------------------------------


def test_evict_by_commit(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    admit(root, "acme/tiny-bert", C1, {"model.safetensors": b"w1", "config.json": b"{}"}, lfs={"model.safetensors"})
    admit(root, "acme/tiny-bert", C2, {"model.safetensors": b"w2", "config.json": b"{}"}, lfs={"model.safetensors"},
          ref="v2")
    admit(root, "acme/other", C1, {"config.json": b"{}"})
    hits = revocation.evict_revoked(root, revocation.parse_target(f"acme/tiny-bert@{C1}"))
    assert hits == [revocation.Evicted("acme/tiny-bert", C1)]
    assert not holds(root, "acme/tiny-bert", C1)
    assert holds(root, "acme/tiny-bert", C2) and holds(root, "acme/other", C1)
    repo_dir = root / "hub" / "models--acme--tiny-bert"
    assert not (repo_dir / "refs" / "main").exists() and (repo_dir / "refs" / "v2").exists()
    # the blob only C1 used is gone; the shared config blob stays (C2 links it)
    import hashlib

    assert not (repo_dir / "blobs" / hashlib.sha256(b"w1").hexdigest()).exists()
    assert (repo_dir / "snapshots" / C2 / "config.json").read_bytes() == b"{}"
    assert revocation.evict_revoked(root, revocation.parse_target(f"acme/tiny-bert@{C1}")) == []


def test_evict_by_file_hash_everywhere(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    evil = b'{"tokenizer": "evil"}'
    sha = admit(root, "acme/a", C1, {"tokenizer.json": evil, "x.bin": b"1"}, lfs={"x.bin"})["tokenizer.json"]
    admit(root, "acme/b", C2, {"tokenizer.json": evil}, record=False)  # found by hashing its git-sha1 blob
    admit(root, "acme/c", C1, {"big.bin": evil}, lfs={"big.bin"}, record=False)  # found by its LFS blob name
    admit(root, "acme/d", C1, {"tokenizer.json": b"fine"})
    hits = revocation.evict_revoked(root, revocation.parse_target(f"sha256:{sha}"))
    assert {h.repo for h in hits} == {"acme/a", "acme/b", "acme/c"}
    for repo in ("acme/a", "acme/b", "acme/c"):
        assert not (root / "hub" / ("models--" + repo.replace("/", "--"))).exists()
    assert holds(root, "acme/d", C1)


def test_evict_from_empty_cache(tmp_path: Path) -> None:
    assert revocation.evict_revoked(tmp_path / "none", revocation.parse_target(f"sha256:{BAD_SHA}")) == []


# --- the CLI -----------------------------------------------------------------------------------------


def test_cli_revoke(tmp_path: Path, capsys) -> None:
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text(MANIFEST)
    root = tmp_path / "cache"
    admit(root, "acme/tiny-bert", C1, {"config.json": b"{}"})
    code = run(["revoke", f"acme/tiny-bert@{C1}", "--reason", "CVE-2026-1", "--manifest", str(manifest),
                "--cache-dir", str(root)])
    assert code == 0
    out = capsys.readouterr().out
    assert "revoked acme/tiny-bert@" in out and f"evicted acme/tiny-bert@{C1}" in out
    assert not holds(root, "acme/tiny-bert", C1)
    assert tomlkit.parse(manifest.read_text()).unwrap()["policy"]["revoked"][0]["reason"] == "CVE-2026-1"
    records = [json.loads(line) for line in (root / "audit.log").read_text().splitlines()]
    assert [(r["command"], r["action"]) for r in records] == [("revoke", "revoke"), ("revoke", "evict")]
    assert records[1]["repo"] == "acme/tiny-bert" and records[1]["commit"] == C1


def test_cli_revoke_explicit_policy(tmp_path: Path, capsys) -> None:
    policy = tmp_path / "org-policy.toml"
    policy.write_text('allowed-orgs = ["acme"]\n')
    code = run(["revoke", f"sha256:{BAD_SHA}", "--reason", "bad", "--policy", str(policy),
                "--cache-dir", str(tmp_path / "cache")])
    assert code == 0 and "nothing to evict" in capsys.readouterr().out
    assert tomlkit.parse(policy.read_text()).unwrap()["revoked"][0]["target"] == f"sha256:{BAD_SHA}"


def test_cli_revoke_invalid_target_changes_nothing(tmp_path: Path, capsys) -> None:
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text(MANIFEST)
    code = run(["revoke", "acme/tiny-bert@main", "--reason", "x", "--manifest", str(manifest),
                "--cache-dir", str(tmp_path / "cache")])
    assert code == ExitCode.USAGE
    assert "40-hex commit" in capsys.readouterr().err
    assert manifest.read_text() == MANIFEST
    assert run(["revoke", f"acme/tiny-bert@{C1}", "--manifest", str(manifest)]) == ExitCode.USAGE  # no --reason


def test_cli_revoke_fails_closed_when_audit_log_unwritable(tmp_path: Path, capsys) -> None:
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text(MANIFEST)
    root = tmp_path / "cache"
    root.mkdir()
    (root / audit.LOG_NAME).mkdir()  # a directory where the log should be: cannot be opened for append
    code = run(["revoke", f"acme/tiny-bert@{C1}", "--reason", "x", "--manifest", str(manifest),
                "--cache-dir", str(root)])
    assert code == ExitCode.NO_VERDICT
    assert "audit log cannot be written" in capsys.readouterr().err
    assert manifest.read_text() == MANIFEST


def test_refuse_if_revoked_and_model_findings() -> None:
    from modelguard.spec.types import LockedFile, LockedHFModel
    from modelguard.trust.checks import locked_model_findings, refuse_if_revoked

    model = LockedHFModel(name="bert", repo="acme/tiny-bert", requested_revision="main", commit=C1,
                          files=(LockedFile(path="tok.json", size=2, sha256=BAD_SHA, published="git-blob-sha1"),))
    by_file = Policy(revoked=(Revocation(target=f"sha256:{BAD_SHA}", reason="swapped tokenizer", date="2026-11-25"),))
    with pytest.raises(RevokedError, match="swapped tokenizer") as e:
        refuse_if_revoked(by_file, model)
    assert e.value.rule == "MG-P502"
    assert [f.rule for f in locked_model_findings(by_file, model, None)] == ["MG-P502"]
    refuse_if_revoked(Policy(), model)  # nothing revoked: no exception


def test_lock_refuses_to_pin_a_revoked_commit(fake_hub, tmp_path: Path, capsys) -> None:
    commit = fake_hub.add_repo("acme/tiny-bert", {"config.json": b"{}"})
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text(MANIFEST)
    assert run(["revoke", f"acme/tiny-bert@{commit}", "--reason", "INC-9: backdoor", "--manifest", str(manifest),
                "--cache-dir", str(tmp_path / "cache")]) == 0
    capsys.readouterr()
    assert run(["--endpoint", fake_hub.endpoint, "lock", "--manifest", str(manifest)]) == ExitCode.REJECTED
    assert "INC-9: backdoor" in capsys.readouterr().err
    assert not (tmp_path / "modelguard.lock").exists()


def test_revoke_output_is_read_back_by_the_policy_parser(tmp_path: Path) -> None:
    from modelguard.spec.manifest import load_manifest

    manifest = tmp_path / "modelguard.toml"
    manifest.write_text(MANIFEST)
    revocation.add_revocation(manifest, revocation.parse_target(f"acme/tiny-bert@{C1}"), "INC-1", date="2026-11-25")
    revocation.add_revocation(manifest, revocation.parse_target(f"sha256:{BAD_SHA}"), "INC-2", date="2026-11-26")
    policy = load_manifest(str(manifest)).policy
    assert [(r.target, r.reason, r.date) for r in policy.revoked] == [
        (f"acme/tiny-bert@{C1}", "INC-1", "2026-11-25"), (f"sha256:{BAD_SHA}", "INC-2", "2026-11-26")]
    assert revocation.is_revoked(policy, "acme/tiny-bert", C1) is not None
