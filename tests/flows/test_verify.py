"""verify: the offline CI gate over the lockfile, the manifest and the verified cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.errors import (
    ConfigError,
    ExitCode,
    HubUnreachableError,
    LockfileError,
    NothingToCheckError,
    UsageError,
)
from modelguard.flows.verify import load_inputs, verify, verify_locked
from modelguard.spec.types import LockedHFModel
from tests.cache_helpers import (
    COMMIT,
    admit_local,
    allow_all,
    locked_model,
    publish,
    quick_client,
    write_project,
)
from tests.fakehub import FakeHub, Fault

FILES = {"weights.bin": b"tensor bytes " * 64, "config.txt": b"hidden=4\n"}


@pytest.fixture
def project(tmp_path: Path):
    """A project whose one model is admitted to the cache at tmp_path/cache."""
    model = locked_model("tiny", "acme/tiny", FILES)
    proj = tmp_path / "proj"
    proj.mkdir()
    lock_path, manifest = write_project(proj, [model])
    cache = tmp_path / "cache"
    admit_local(cache, model, FILES, manifest.policy)
    return lock_path, cache, model


def verify_cli(lock_path: Path, cache: Path, *extra: str, capsys) -> tuple[int, dict]:
    code = run(["verify", "--lockfile", str(lock_path), "--cache-dir", str(cache), "--format", "json", *extra])
    return code, json.loads(capsys.readouterr().out)


def rules(doc: dict) -> set[str]:
    return {f["rule"] for f in doc["findings"]}


def blob(cache: Path, path: str) -> Path:
    return Path(os.path.realpath(cache / "hub" / "models--acme--tiny" / "snapshots" / COMMIT / path))


def test_intact_admitted_model_verifies(project, capsys) -> None:
    lock_path, cache, _ = project
    code, doc = verify_cli(lock_path, cache, capsys=capsys)
    assert code == 0, doc
    assert doc["ok"] and doc["command"] == "verify" and doc["hashing"] == "full sha256"
    assert {f["path"] for f in doc["files"]} == {"tiny:weights.bin", "tiny:config.txt"}
    assert doc["models"] == [{"name": "tiny", "repo": "acme/tiny", "commit": COMMIT, "admitted": True,
                              "intact": True, "rescanned": True, "rehashed": ["config.txt", "weights.bin"],
                              "attested": False}]  # fingerprints as admitted: nothing to refresh


def test_cache_file_edited_after_admission_exits_1(project, capsys) -> None:
    lock_path, cache, _ = project
    b = blob(cache, "weights.bin")
    os.chmod(b, 0o644)
    data = bytearray(b.read_bytes())
    data[-1] ^= 0xFF
    b.write_bytes(bytes(data))
    code, doc = verify_cli(lock_path, cache, capsys=capsys)
    assert code == 1
    bad = next(f for f in doc["files"] if f["path"] == "tiny:weights.bin")
    assert [f["rule"] for f in bad["findings"]] == ["MG-H001"]


def test_fast_mode_says_so_and_still_sees_a_replaced_blob(project, capsys) -> None:
    lock_path, cache, _ = project
    code, doc = verify_cli(lock_path, cache, "--fast", capsys=capsys)
    assert code == 0 and "MG-H105" in rules(doc) and "--fast" in doc["hashing"]
    b = blob(cache, "config.txt")
    tmp = b.with_name("tmp")
    tmp.write_bytes(b"hidden=5\n")
    os.replace(tmp, b)
    code, doc = verify_cli(lock_path, cache, "--fast", capsys=capsys)
    assert code == 1 and "MG-H001" in rules(doc)


def test_not_admitted_model_fails(tmp_path: Path, capsys) -> None:
    model = locked_model("tiny", "acme/tiny", FILES)
    lock_path, _ = write_project(tmp_path, [model])
    (tmp_path / "empty-cache").mkdir()
    code, doc = verify_cli(lock_path, tmp_path / "empty-cache", capsys=capsys)
    assert code == 1 and "MG-H101" in rules(doc)
    assert not (tmp_path / "empty-cache" / "hub").exists()  # verify never writes to the cache


def test_a_cache_dir_that_does_not_exist_is_a_usage_error_and_is_not_created(tmp_path: Path, capsys) -> None:
    model = locked_model("tiny", "acme/tiny", FILES)
    lock_path, _ = write_project(tmp_path, [model])
    typo = tmp_path / "cahce"
    code = run(["verify", "--lockfile", str(lock_path), "--cache-dir", str(typo), "--format", "json"])
    out = capsys.readouterr()
    assert code == ExitCode.USAGE and out.out == ""
    assert out.err.splitlines() == [f"modelguard: error: no verified cache at {typo} (given as --cache-dir / "
                                    f"cache_dir=); check the path, or run `modelguard fetch --cache-dir {typo}` "
                                    "to create it"]
    assert not typo.exists()
    with pytest.raises(UsageError, match="no verified cache at"):
        verify(lock_path, cache_dir=typo)
    assert not typo.exists()


def test_stale_lock_is_reported(tmp_path: Path, capsys) -> None:
    model = locked_model("tiny", "acme/tiny", FILES)
    lock_path, manifest = write_project(tmp_path, [model], stale=True)
    admit_local(tmp_path / "cache", model, FILES, manifest.policy)
    code, doc = verify_cli(lock_path, tmp_path / "cache", capsys=capsys)
    assert code == 1 and rules(doc) == {"MG-L001"}


def test_missing_extra_and_outside_symlink(project, capsys, tmp_path: Path) -> None:
    lock_path, cache, _ = project
    snap = cache / "hub" / "models--acme--tiny" / "snapshots" / COMMIT
    (snap / "config.txt").unlink()
    outside = tmp_path / "outside.bin"
    outside.write_bytes(FILES["weights.bin"])
    (snap / "weights.bin").unlink()
    os.symlink(os.path.relpath(outside, snap), snap / "weights.bin")
    (snap / "modeling_evil.py").write_text("import os\n")
    code, doc = verify_cli(lock_path, cache, capsys=capsys)
    assert code == 1
    assert {"MG-H006", "MG-H007", "MG-H102"} <= rules(doc)


def test_policy_change_rescans_and_applies_the_new_policy(tmp_path: Path, capsys) -> None:
    model = locked_model("tiny", "acme/tiny", FILES)
    lock_path, manifest = write_project(tmp_path, [model])
    admit_local(tmp_path / "cache", model, FILES, manifest.policy)
    # The team tightens the policy and re-locks: the admitted files are re-evaluated, not trusted.
    lock_path, _ = write_project(tmp_path, [model], 'allowed-orgs = ["*"]\nmax-file-size = 100')
    code, doc = verify_cli(lock_path, tmp_path / "cache", capsys=capsys)
    assert code == 1 and doc["models"][0]["rescanned"] is True
    assert rules(doc) == {"MG-P014"}


def test_org_no_longer_allowed_fails(tmp_path: Path, capsys) -> None:
    model = locked_model("tiny", "acme/tiny", FILES)
    lock_path, manifest = write_project(tmp_path, [model])
    admit_local(tmp_path / "cache", model, FILES, manifest.policy)
    lock_path, _ = write_project(tmp_path, [model], 'allowed-orgs = ["*"]\ndenied-orgs = ["acme"]')
    code, doc = verify_cli(lock_path, tmp_path / "cache", capsys=capsys)
    assert code == 1 and "MG-P002" in rules(doc)


def test_fail_on_flag_overrides_the_policy(tmp_path: Path, capsys) -> None:
    model = locked_model("tiny", "acme/tiny", FILES)
    lock_path, _ = write_project(tmp_path, [model], 'allowed-orgs = ["*"]\nmax-file-size = 100')
    admit_local(tmp_path / "cache", model, FILES, allow_all(max_file_size=100))
    code, doc = verify_cli(lock_path, tmp_path / "cache", "--fail-on", "high", capsys=capsys)
    assert code == 0 and rules(doc) == {"MG-P014"}  # medium finding reported, below --fail-on high


def test_no_lockfile_exits_2(tmp_path: Path, capsys) -> None:
    assert run(["verify", "--lockfile", str(tmp_path / "modelguard.lock"), "--cache-dir", str(tmp_path)]) == 2
    assert "run `modelguard lock`" in capsys.readouterr().err
    with pytest.raises(LockfileError):
        verify(tmp_path / "modelguard.lock", cache_dir=tmp_path)


def test_unknown_lock_version_exits_2(project, capsys) -> None:
    lock_path, cache, _ = project
    lock_path.write_text(lock_path.read_text().replace("lock-version = 1", "lock-version = 99"))
    assert run(["verify", "--lockfile", str(lock_path), "--cache-dir", str(cache)]) == 2
    assert "lock-version 99" in capsys.readouterr().err


def test_missing_manifest_exits_2(project, capsys) -> None:
    lock_path, cache, _ = project
    (lock_path.parent / "modelguard.toml").unlink()
    with pytest.raises(ConfigError):
        verify(lock_path, cache_dir=cache)


def test_nothing_locked_exits_3(tmp_path: Path, capsys) -> None:
    lock_path, _ = write_project(tmp_path, [])
    assert run(["verify", "--lockfile", str(lock_path), "--cache-dir", str(tmp_path / "c")]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run `modelguard lock`" in err  # says what to do next
    with pytest.raises(NothingToCheckError):
        verify(lock_path, cache_dir=tmp_path / "c")


def test_unwritable_audit_log_is_one_line_that_says_what_to_do(project, capsys) -> None:
    lock_path, cache, _ = project
    (cache / "audit.log").unlink(missing_ok=True)
    (cache / "audit.log").mkdir()  # cannot be appended to, even by root
    assert run(["verify", "--lockfile", str(lock_path), "--cache-dir", str(cache)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "audit log cannot be written" in err and "--cache-dir" in err


def test_text_report_and_output_file(project, capsys, tmp_path: Path) -> None:
    lock_path, cache, _ = project
    out = tmp_path / "report.json"
    code = run(["verify", "--lockfile", str(lock_path), "--cache-dir", str(cache), "--format", "json",
                "--output", str(out)])
    assert code == 0 and json.loads(out.read_text())["ok"] is True
    assert run(["verify", "--lockfile", str(lock_path), "--cache-dir", str(cache)]) == 0
    assert "OK:" in capsys.readouterr().out


# --- --remote, against the loopback fake Hub -------------------------------------------------



def fetched(fake_hub: FakeHub, tmp_path: Path, files: dict[str, bytes]) -> tuple[Path, Path, LockedHFModel]:
    model = publish(fake_hub, "tiny", "acme/tiny", files, lfs=["weights.bin"])
    lock_path, _ = write_project(tmp_path, [model])
    cache = tmp_path / "cache"
    assert run(["--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock_path), "--cache-dir", str(cache)]) == 0
    return lock_path, cache, model


def test_remote_passes_when_the_hub_still_publishes_the_lock(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    lock_path, cache, _ = fetched(fake_hub, tmp_path, FILES)
    capsys.readouterr()
    fake_hub.clear_requests()
    code, doc = verify_cli(lock_path, cache, capsys=capsys)
    assert code == 0 and doc["ok"] and fake_hub.requests == []  # offline by default
    code = run(["--endpoint", fake_hub.endpoint, "verify", "--remote", "--lockfile", str(lock_path),
                "--cache-dir", str(cache)])
    assert code == 0 and fake_hub.requests


def test_remote_finds_a_force_pushed_commit(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    lock_path, cache, model = fetched(fake_hub, tmp_path, FILES)
    capsys.readouterr()
    fake_hub.delete_commit("acme/tiny", model.commit)
    code, doc = verify_cli(lock_path, cache, capsys=capsys)
    assert code == 0 and doc["ok"]  # offline: the cache is still exactly the lock
    code = run(["--endpoint", fake_hub.endpoint, "verify", "--remote", "--format", "json", "--lockfile",
                str(lock_path), "--cache-dir", str(cache)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and "MG-H005" in rules(doc)


def test_remote_finds_a_changed_published_hash(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    lock_path, cache, _ = fetched(fake_hub, tmp_path, FILES)
    capsys.readouterr()
    fake_hub.inject(Fault.HASH_LIE, repo="acme/tiny", path="weights.bin")
    code = run(["--endpoint", fake_hub.endpoint, "verify", "--remote", "--format", "json", "--lockfile",
                str(lock_path), "--cache-dir", str(cache)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and "MG-H003" in rules(doc)


def test_remote_with_the_hub_down_is_no_verdict(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    lock_path, cache, _ = fetched(fake_hub, tmp_path, FILES)
    lockfile, manifest = load_inputs(lock_path)
    endpoint = fake_hub.endpoint
    fake_hub.stop()
    with pytest.raises(HubUnreachableError):
        verify_locked(lockfile, manifest, cache_dir=cache, remote=True, client_factory=lambda: quick_client(endpoint))


def test_record_with_findings_this_scanner_cannot_make_disagrees_with_the_bytes(project, capsys) -> None:
    """Same scanner, same policy: a finding no rule of this modelguard makes can only have been written by hand."""
    lock_path, cache, _ = project
    record = cache / "admissions" / "models--acme--tiny" / f"{COMMIT}.json"
    doc = json.loads(record.read_text())
    doc["files"][0]["findings"] = [{"rule": "MG-X999", "severity": "info", "message": "?", "location": ""}]
    record.write_text(json.dumps(doc))
    code, out = verify_cli(lock_path, cache, capsys=capsys)
    assert code == 1 and out["models"][0]["rescanned"] is True
    assert "MG-X999" not in rules(out) and "MG-H108" in rules(out)


def test_provider_models_are_verified_with_the_hf_models(project, capsys, today) -> None:
    today("2026-11-26")  # gpt-4o-2024-08-06 is neither deprecated nor retired, and the catalog is fresh
    lock_path, cache, _ = project
    manifest = lock_path.parent / "modelguard.toml"
    manifest.write_text(manifest.read_text()
                        + '\n[[provider-model]]\nname = "chat"\nprovider = "openai"\nmodel = "gpt-4o-2024-08-06"\n')
    # Re-lock offline (hf entries are unchanged, so their pins are kept without asking the Hub).
    assert run(["lock", "--manifest", str(manifest), "--lockfile", str(lock_path)]) == 0
    capsys.readouterr()
    code, doc = verify_cli(lock_path, cache, capsys=capsys)
    assert code == 0, doc
    assert {f["path"] for f in doc["files"]} == {"tiny:weights.bin", "tiny:config.txt"}
    assert doc["summary"]["findings"] == 0


def test_fetch_text_report_names_each_model(tmp_path: Path, capsys) -> None:
    model = locked_model("tiny", "acme/tiny", FILES)
    lock_path, _ = write_project(tmp_path, [model], 'allowed-orgs = ["*"]\ndenied-orgs = ["acme"]')
    code = run(["fetch", "--lockfile", str(lock_path), "--cache-dir", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert code == 1
    assert "REFUSED" in out and "tiny  acme/tiny@" in out and "MG-P002" in out


def test_provider_models_alone_are_checked_and_a_retired_one_fails(tmp_path: Path, capsys, today) -> None:
    today("2026-11-26")  # gpt-4o-2024-08-06 current, gpt-3.5-turbo-0125 retired, catalog fresh
    manifest = tmp_path / "modelguard.toml"
    entry = '\n[[provider-model]]\nname = "chat"\nprovider = "openai"\nmodel = "{}"\n'
    manifest.write_text('[policy]\nallowed-orgs = ["*"]\n' + entry.format("gpt-4o-2024-08-06"))
    lock_path = tmp_path / "modelguard.lock"
    assert run(["lock", "--manifest", str(manifest), "--lockfile", str(lock_path)]) == 0
    capsys.readouterr()
    code, doc = verify_cli(lock_path, tmp_path / "cache", capsys=capsys)
    # Checked (not "nothing to check") and clean.
    assert doc["files"] == [] and rules(doc) == set() and code == 0, doc
    manifest.write_text('[policy]\nallowed-orgs = ["*"]\n' + entry.format("gpt-3.5-turbo-0125"))
    run(["lock", "--manifest", str(manifest), "--lockfile", str(lock_path)])
    capsys.readouterr()
    code, doc = verify_cli(lock_path, tmp_path / "cache", capsys=capsys)
    assert code == 1 and "MG-P204" in rules(doc), doc


def test_unparsable_lockfile_exits_2(project, capsys) -> None:
    lock_path, cache, _ = project
    lock_path.write_text("lock-version = [unclosed\n")
    assert run(["verify", "--lockfile", str(lock_path), "--cache-dir", str(cache)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_manifest_given_explicitly(project, capsys, tmp_path: Path) -> None:
    lock_path, cache, _ = project
    elsewhere = tmp_path / "config" / "team.toml"
    elsewhere.parent.mkdir()
    (lock_path.parent / "modelguard.toml").rename(elsewhere)
    assert run(["verify", "--lockfile", str(lock_path), "--cache-dir", str(cache)]) == 2
    capsys.readouterr()
    code, doc = verify_cli(lock_path, cache, "--manifest", str(elsewhere), capsys=capsys)
    assert code == 0 and doc["ok"]
