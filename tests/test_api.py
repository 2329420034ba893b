"""The public library API: lock/fetch/verify reports, snapshot() per failure reason, load_torch().

Models are served by the loopback fake Hub and go through the real client; every refusal test
checks the exception class, its exit code and rule, and that nothing was admitted.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import sys
import threading
from pathlib import Path

import pytest

import modelguard
from modelguard import api
from modelguard.demo import artifacts
from modelguard.errors import (
    ConfigError,
    ExitCode,
    IntegrityError,
    LockfileError,
    NotAdmittedError,
    NothingToCheckError,
    NotLockedError,
    NoVerdictError,
    PolicyError,
    RevokedError,
    SignatureError,
    StaleLockError,
    UnreadableError,
    UnsafeContentError,
    UsageError,
)
from modelguard.flows.lock import LockResult
from modelguard.flows.snapshot import refusal
from modelguard.models import Report, Severity
from modelguard.report.rules import finding
from tests.api_helpers import CLEAN, LFS, Project, make_project, manifest_text
from tests.fakehub import FakeHub, Fault


@pytest.fixture
def project(tmp_path: Path, fake_hub: FakeHub) -> Project:
    return make_project(tmp_path, fake_hub)


@pytest.fixture
def fetched(project: Project) -> Project:
    project.lock()
    project.fetch()
    return project


def requested_repos(hub: FakeHub) -> set[str]:
    repos = set()
    for r in hub.requests:
        for repo in ("acme/tiny", "acme/other", "acme/evil"):
            if repo in r.path:
                repos.add(repo)
    return repos


# --- the package surface -----------------------------------------------------------------------


def test_top_level_names_are_the_api_functions() -> None:
    for name in ("lock", "fetch", "verify", "snapshot", "hf_offline", "load_torch"):
        assert getattr(modelguard, name) is getattr(api, name)
    for name in ("scan_file", "scan_bytes", "scan_paths"):
        assert callable(getattr(modelguard, name))
    with pytest.raises(AttributeError):
        modelguard.no_such_thing  # noqa: B018


def test_scan_bytes_and_scan_file_return_typed_results(tmp_path: Path) -> None:
    evil = artifacts.torch_zip(artifacts.command_pickle())
    result = modelguard.scan_bytes(evil, "evil.bin")
    assert result.verdict.value == "malicious" and [f.rule for f in result.findings] == ["MG-S101"]
    path = tmp_path / "model.safetensors"
    path.write_bytes(CLEAN["model.safetensors"])
    clean = modelguard.scan_file(path)
    assert (clean.format, clean.verdict.value, clean.findings) == ("safetensors", "clean", ())


# --- lock / fetch / verify ---------------------------------------------------------------------


def test_lock_fetch_verify_return_typed_reports(project: Project) -> None:
    locked = api.lock(project.manifest, endpoint=project.hub.endpoint, token="")
    assert isinstance(locked, LockResult) and locked.written
    assert sorted(locked.resolved) == ["evil", "other", "tiny", "tiny-v1"]

    fetched = api.fetch(project.lockfile, cache_dir=project.cache, endpoint=project.hub.endpoint, token="")
    assert isinstance(fetched, Report) and not fetched.ok
    status = {m.name: m.status.value for m in fetched.models or ()}
    assert status == {"tiny": "admitted", "tiny-v1": "admitted", "other": "admitted", "evil": "refused"}
    assert "MG-S101" in {f.rule for f in fetched.failing()}

    verified = api.verify(project.lockfile, cache_dir=project.cache, fail_on="high")
    assert isinstance(verified, Report) and not verified.ok
    assert {f.model for f in verified.failing()} == {"evil"}
    assert {f.rule for f in verified.failing()} == {"MG-H101"}


def test_fail_on_must_be_a_severity(project: Project) -> None:
    project.lock()
    with pytest.raises(UsageError, match="fail_on"):
        api.verify(project.lockfile, cache_dir=project.cache, fail_on="dire")


# --- snapshot(): success -----------------------------------------------------------------------


def test_snapshot_by_name_and_by_repo_returns_the_admitted_folder(fetched: Project) -> None:
    path = api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache)
    assert path == fetched.snapshot_dir("acme/tiny")
    assert (path / "model.safetensors").read_bytes() == CLEAN["model.safetensors"]
    assert api.snapshot("acme/other", lockfile=fetched.lockfile, cache_dir=fetched.cache) == \
        fetched.snapshot_dir("acme/other")
    assert api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache, verify=True) == path


def test_snapshot_defaults_to_the_lockfile_in_the_working_folder(fetched: Project,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(fetched.root)
    monkeypatch.setenv("MODELGUARD_HOME", str(fetched.cache))
    assert api.snapshot("tiny") == fetched.snapshot_dir("acme/tiny")


def test_snapshot_fetch_true_fetches_only_that_entry(project: Project) -> None:
    project.lock()
    project.hub.clear_requests()
    path = api.snapshot("other", lockfile=project.lockfile, cache_dir=project.cache, fetch=True,
                        endpoint=project.hub.endpoint, token="")
    assert path == project.snapshot_dir("acme/other")
    assert requested_repos(project.hub) == {"acme/other"}
    assert not (project.cache / "hub" / "models--acme--tiny").exists()


def test_snapshot_without_manifest_trusts_the_admission_made_under_the_locked_policy(fetched: Project) -> None:
    fetched.manifest.unlink()  # a deployed image ships the lockfile and the cache, not the manifest
    assert api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache) == \
        fetched.snapshot_dir("acme/tiny")


# --- snapshot(): one exception per reason --------------------------------------------------------


def test_snapshot_of_an_unknown_name_is_not_locked(fetched: Project) -> None:
    with pytest.raises(NotLockedError, match="'bert' is not an") as e:
        api.snapshot("bert", lockfile=fetched.lockfile, cache_dir=fetched.cache)
    assert e.value.exit_code == ExitCode.USAGE
    assert "evil, other, tiny, tiny-v1" in str(e.value)


def test_snapshot_of_a_repo_locked_twice_names_the_choices(fetched: Project) -> None:
    with pytest.raises(UsageError) as e:
        api.snapshot("acme/tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache)
    assert not isinstance(e.value, NotLockedError)
    assert "tiny, tiny-v1" in str(e.value)


def test_snapshot_without_a_lockfile(tmp_path: Path) -> None:
    with pytest.raises(LockfileError) as e:
        api.snapshot("tiny", lockfile=tmp_path / "modelguard.lock", cache_dir=tmp_path)
    assert e.value.rule == "MG-L002"


def test_snapshot_of_a_locked_but_never_fetched_model_is_not_admitted(project: Project) -> None:
    project.lock()
    project.cache.mkdir()  # an empty verified cache: nothing fetched into it yet
    with pytest.raises(NotAdmittedError) as e:
        api.snapshot("tiny", lockfile=project.lockfile, cache_dir=project.cache)
    assert (e.value.rule, e.value.exit_code) == ("MG-H101", ExitCode.REJECTED)
    project.manifest.unlink()
    with pytest.raises(NotAdmittedError, match="modelguard fetch"):
        api.snapshot("tiny", lockfile=project.lockfile, cache_dir=project.cache)


def test_snapshot_from_a_cache_dir_that_does_not_exist_is_a_usage_error_and_creates_nothing(
    fetched: Project
) -> None:
    typo = fetched.root / "cahce"
    with pytest.raises(UsageError, match=r"no verified cache at .*cahce") as e:
        api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=typo)
    assert e.value.exit_code == ExitCode.USAGE and not isinstance(e.value, NotLockedError)
    fetched.manifest.unlink()  # without a manifest: the admission-record path, same answer
    with pytest.raises(UsageError, match="no verified cache at"):
        api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=typo)
    assert not typo.exists()


def test_snapshot_of_a_refused_model_is_not_admitted(fetched: Project) -> None:
    with pytest.raises(NotAdmittedError):
        api.snapshot("evil", lockfile=fetched.lockfile, cache_dir=fetched.cache)


def test_snapshot_fetch_true_refuses_unsafe_content(project: Project) -> None:
    project.lock()
    with pytest.raises(UnsafeContentError) as e:
        api.snapshot("evil", lockfile=project.lockfile, cache_dir=project.cache, fetch=True,
                     endpoint=project.hub.endpoint, token="")
    assert e.value.rule == "MG-S101" and "pytorch_model.bin" in str(e.value)
    assert not (project.cache / "hub" / "models--acme--evil").exists()


def test_snapshot_fetch_true_refuses_bytes_tampered_in_transit(project: Project) -> None:
    project.lock()
    project.hub.inject(Fault.TAMPER, repo="acme/other", path="model.safetensors")
    with pytest.raises(IntegrityError) as e:
        api.snapshot("other", lockfile=project.lockfile, cache_dir=project.cache, fetch=True,
                     endpoint=project.hub.endpoint, token="")
    assert e.value.rule in ("MG-H001", "MG-H003")
    assert not (project.cache / "hub" / "models--acme--other").exists()


def test_snapshot_fetch_true_needs_the_manifest(project: Project) -> None:
    project.lock()
    project.manifest.unlink()
    with pytest.raises(ConfigError, match="manifest"):
        api.snapshot("tiny", lockfile=project.lockfile, cache_dir=project.cache, fetch=True)


def _blob(project: Project, repo: str, path: str) -> Path:
    return (project.snapshot_dir(repo) / path).resolve()


def test_snapshot_refuses_a_file_changed_after_admission(fetched: Project) -> None:
    blob = _blob(fetched, "acme/tiny", "model.safetensors")
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as e:
        api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache)
    assert e.value.rule == "MG-H001" and e.value.exit_code == ExitCode.REJECTED
    fetched.manifest.unlink()
    with pytest.raises(IntegrityError, match="MG-H001"):
        api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache)


def test_snapshot_fast_path_sees_an_edit_whose_mtime_was_put_back(fetched: Project) -> None:
    """Same size, same inode, mtime put back: the ctime moved, so even the default check re-hashes."""
    blob = _blob(fetched, "acme/tiny", "model.safetensors")
    before = os.stat(blob)
    os.chmod(blob, 0o644)
    with open(blob, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    os.utime(blob, ns=(before.st_atime_ns, before.st_mtime_ns))
    for verify in (False, True):
        with pytest.raises(IntegrityError) as e:
            api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache, verify=verify)
        assert e.value.rule == "MG-H001"


def test_snapshot_refuses_a_missing_file(fetched: Project) -> None:
    link = fetched.snapshot_dir("acme/tiny") / "config.json"
    link.unlink()
    with pytest.raises(IntegrityError) as e:
        api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache)
    assert e.value.rule == "MG-H006"


def test_snapshot_refuses_when_the_policy_no_longer_allows_the_org(fetched: Project) -> None:
    fetched.manifest.write_text(manifest_text(allowed="someone-else"), encoding="utf-8")
    with pytest.raises(PolicyError) as e:
        api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache)
    assert e.value.rule == "MG-P001"


def revoke(project: Project, target: str) -> None:
    extra = f'\n[[policy.revoked]]\ntarget = "{target}"\nreason = "leaked credentials in the weights"\n' \
            'date = 2026-11-25\n'
    project.manifest.write_text(manifest_text(extra=extra), encoding="utf-8")


def test_snapshot_refuses_a_revoked_commit(fetched: Project) -> None:
    revoke(fetched, f"acme/tiny@{fetched.commits['acme/tiny']}")
    with pytest.raises(RevokedError) as e:
        api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache)
    assert e.value.rule == "MG-P501" and "leaked credentials" in str(e.value)
    assert e.value.exit_code == ExitCode.REJECTED
    assert api.snapshot("other", lockfile=fetched.lockfile, cache_dir=fetched.cache) == \
        fetched.snapshot_dir("acme/other")


def test_snapshot_refuses_a_revoked_file_before_fetching_it(project: Project) -> None:
    project.lock()
    revoke(project, "sha256:" + hashlib.sha256(CLEAN["model.safetensors"]).hexdigest())
    project.hub.clear_requests()
    with pytest.raises(RevokedError) as e:
        api.snapshot("tiny", lockfile=project.lockfile, cache_dir=project.cache, fetch=True,
                     endpoint=project.hub.endpoint, token="")
    assert e.value.rule == "MG-P502"
    assert project.hub.requests == []
    assert not (project.cache / "hub" / "models--acme--tiny").exists()


def test_snapshot_checks_the_lockfile_signature_when_the_policy_requires_one(fetched: Project) -> None:
    text = manifest_text().replace('fail-on = "medium"', 'fail-on = "medium"\nrequire-signature = true')
    fetched.manifest.write_text(text, encoding="utf-8")
    with pytest.raises(SignatureError) as e:
        api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache)
    assert e.value.rule == "MG-L107" and e.value.exit_code == ExitCode.REJECTED


def test_snapshot_refuses_a_stale_lock(fetched: Project) -> None:
    extra = '\n[[hf-model]]\nname = "new"\nrepo = "acme/new"\n'
    fetched.manifest.write_text(manifest_text(extra=extra), encoding="utf-8")
    with pytest.raises(StaleLockError) as e:
        api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache)
    assert e.value.rule == "MG-L001"


def test_snapshot_without_manifest_refuses_a_record_with_a_failing_finding(fetched: Project) -> None:
    fetched.manifest.unlink()
    record = fetched.cache / "admissions" / "models--acme--tiny" / f"{fetched.commits['acme/tiny']}.json"
    doc = json.loads(record.read_text(encoding="utf-8"))
    doc["files"][0]["findings"] = [{"rule": "MG-S101", "severity": "critical", "message": "x", "location": ""}]
    record.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(IntegrityError, match="failing"):
        api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache)


# --- load_torch() ------------------------------------------------------------------------------


def test_load_torch_refuses_a_malicious_checkpoint_without_needing_torch(tmp_path: Path) -> None:
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(artifacts.torch_zip(artifacts.command_pickle("echo pwned")))
    with pytest.raises(UnsafeContentError) as e:
        api.load_torch(path)
    assert e.value.rule == "MG-S101" and e.value.exit_code == ExitCode.REJECTED
    assert "malicious" in str(e.value)


def test_load_torch_refuses_what_the_scan_finds_suspicious(tmp_path: Path) -> None:
    class_global = b"\x80\x02cacme_training.checkpoint\nRunState\n)R."  # an unknown class: not a tensor
    path = tmp_path / "args.bin"
    path.write_bytes(artifacts.torch_zip(class_global))
    with pytest.raises(UnsafeContentError):
        api.load_torch(path)


def test_load_torch_without_torch_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.bin"
    path.write_bytes(artifacts.torch_zip(pickle.dumps({"step": 3}, protocol=2)))
    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    with pytest.raises(api.TorchNotInstalledError) as e:
        api.load_torch(path)
    assert isinstance(e.value, ModuleNotFoundError) and isinstance(e.value, UsageError)
    assert "modelguard[torch]" in str(e.value) and e.value.exit_code == ExitCode.USAGE


def test_load_torch_rejects_weights_only_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="weights_only"):
        api.load_torch(tmp_path / "x.bin", weights_only=False)
    with pytest.raises(UnreadableError):
        api.load_torch(tmp_path / "missing.bin")


def _serve_once(path: Path, data: bytes) -> threading.Thread:
    """A FIFO yields its bytes once: a loader that read the file twice would get nothing the second time."""
    os.mkfifo(path)

    def write() -> None:
        with open(path, "wb") as f:
            f.write(data)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_load_torch_loads_the_very_bytes_it_scanned(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save({"weight": torch.arange(6, dtype=torch.float32).reshape(2, 3)}, buf)
    path = tmp_path / "pytorch_model.bin"
    writer = _serve_once(path, buf.getvalue())
    state = api.load_torch(path, map_location="cpu")
    writer.join(timeout=5)
    assert torch.equal(state["weight"], torch.arange(6, dtype=torch.float32).reshape(2, 3))


def test_load_torch_second_gate_is_torchs_weights_only_unpickler(tmp_path: Path) -> None:
    """A finding below fail-on passes the scan; torch's own allowlist still refuses the object."""
    torch = pytest.importorskip("torch")
    import argparse

    buf = io.BytesIO()
    torch.save({"args": argparse.Namespace(lr=0.1)}, buf)
    path = tmp_path / "with_args.bin"
    path.write_bytes(buf.getvalue())
    with pytest.raises(UnsafeContentError, match="weights-only unpickler"):
        api.load_torch(path, fail_on="critical")


def test_snapshot_fetch_true_without_access_is_no_verdict(project: Project) -> None:
    project.hub.add_repo("acme/gated", {"model.safetensors": CLEAN["model.safetensors"]}, lfs=LFS, gated=True)
    extra = '\n[[hf-model]]\nname = "gated"\nrepo = "acme/gated"\n'
    project.manifest.write_text(manifest_text(extra=extra), encoding="utf-8")
    project.lock()  # LFS files only: the lock needs metadata, which a gated repo shows
    with pytest.raises(NoVerdictError) as e:
        api.snapshot("gated", lockfile=project.lockfile, cache_dir=project.cache, fetch=True,
                     endpoint=project.hub.endpoint, token="")
    assert e.value.exit_code == ExitCode.NO_VERDICT and "gated" in str(e.value)
    assert not (project.cache / "hub" / "models--acme--gated").exists()


@pytest.mark.parametrize(("rules", "expected"), [
    (("MG-P501", "MG-S101"), RevokedError),
    (("MG-L101", "MG-P001"), SignatureError),
    (("MG-S101", "MG-P001", "MG-L001"), UnsafeContentError),
    (("MG-P001", "MG-L001"), PolicyError),
    (("MG-H101", "MG-L001"), NotAdmittedError),
    (("MG-H001", "MG-H105"), IntegrityError),
    (("MG-L001",), StaleLockError),
])
def test_refusal_names_the_decision_that_matters(rules: tuple[str, ...], expected: type[Exception]) -> None:
    found = tuple(finding(rule, f"{rule} happened").at(model="m", path="m:model.bin") for rule in rules)
    error = refusal(Report(command="verify", fail_on=Severity.MEDIUM, findings=found, checked=1), "m")
    assert type(error) is expected
    assert error.rule == rules[0] and str(error).startswith(f"m: {rules[0]} in model.bin: {rules[0]} happened")


def test_the_refusal_class_comes_from_the_rule_table() -> None:
    """Not from a rule id's prefix: each rule names its class, and only classes refusal() ranks."""
    from modelguard.report.rules import REFUSAL_ORDER, RULES

    assert {r.error for r in RULES.values()} == set(REFUSAL_ORDER)
    assert RULES["MG-H101"].error is NotAdmittedError and RULES["MG-H102"].error is IntegrityError
    assert RULES["MG-P502"].error is RevokedError and RULES["MG-P510"].error is SignatureError
    assert RULES["MG-P900"].error is PolicyError and RULES["MG-L106"].error is SignatureError
    for rule_id, rule in RULES.items():
        found = (finding(rule_id, "x", severity=Severity.CRITICAL).at(model="m"),)
        error = refusal(Report(command="verify", fail_on=Severity.MEDIUM, findings=found, checked=1), "m")
        assert type(error) is rule.error and error.rule == rule_id


def test_refusal_without_a_failing_finding_is_no_verdict() -> None:
    error = refusal(Report(command="fetch", fail_on=Severity.MEDIUM, checked=0), "m", reason="Hub unreachable",
                        no_verdict=True)
    assert type(error) is NoVerdictError and str(error) == "m: Hub unreachable"


def test_every_library_call_is_exported_from_the_package() -> None:
    """revoke, sign, signer_entry, audit_log, sarif_anchors, render and the loaders: Python users get
    every command the CLI has, importable from ``modelguard`` (lazily: the package import stays light)."""
    calls = {name for name in api.__all__ if name[0].islower()}
    assert calls <= set(modelguard.__all__), sorted(calls - set(modelguard.__all__))
    for name in modelguard.__all__:
        assert getattr(modelguard, name) is not None, name
    assert {"revoke", "sign", "signer_entry", "audit_log", "sarif_anchors", "render", "load_safetensors"} <= calls


# --- the trust chores as calls: revoke, sign, signer_entry, audit_log, sarif_anchors, render -------


def test_revoke_as_a_call_edits_the_policy_evicts_and_logs(fetched: Project) -> None:
    commit = fetched.commits["acme/tiny"]
    done = api.revoke(f"acme/tiny@{commit}", "leaked credentials", manifest=fetched.manifest,
                      cache_dir=fetched.cache)
    assert done.entry.target == f"acme/tiny@{commit}" and done.policy_file == fetched.manifest
    assert {(e.repo, e.commit) for e in done.evicted} == {("acme/tiny", commit)}
    assert not fetched.snapshot_dir("acme/tiny").exists()
    assert "[[policy.revoked]]" in fetched.manifest.read_text(encoding="utf-8")
    log = api.audit_log(fetched.cache, model="acme/tiny")
    actions = [e.record.get("action") for e in log.entries if e.record["command"] == "revoke"]
    assert actions == ["revoke", "evict"] and log.malformed == ()
    with pytest.raises(RevokedError):
        api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache)
    with pytest.raises(UsageError, match="revocation target"):
        api.revoke("acme/tiny@main", "branches move", manifest=fetched.manifest, cache_dir=fetched.cache)


def test_sign_and_signer_entry_as_calls(fetched: Project, tmp_path: Path) -> None:
    from modelguard.spec.manifest import parse_manifest
    from modelguard.trust import lock_signature as signing
    from tests.trust_keys import new_key, write_key

    key = write_key(tmp_path, new_key("ed25519"))
    signed = api.sign(fetched.lockfile, key=key)
    assert signed.signature == Path(f"{fetched.lockfile}.sig") and signed.signature.is_file()
    assert signed.algorithm == "ed25519" and len(signed.keyid) == 64
    entry = api.signer_entry(key, scope="acme")
    (signer,) = parse_manifest(entry, source="policy.toml").policy.signers
    assert (signer.keyid, signer.scope) == (signed.keyid, "acme")
    assert signing.verify_lockfile_signature(fetched.lockfile, parse_manifest(
        api.signer_entry(key), source="policy.toml").policy) == []
    with pytest.raises(UsageError, match="--scope"):
        api.signer_entry(key, scope="a/b/c")


def test_audit_log_of_a_cache_with_no_log_is_no_verdict(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    with pytest.raises(NothingToCheckError):
        api.audit_log(tmp_path / "cache")


def test_sarif_anchors_point_verify_findings_at_the_lockfile_lines(fetched: Project) -> None:
    report = api.verify(fetched.lockfile, cache_dir=fetched.cache)
    anchors = api.sarif_anchors(fetched.lockfile)
    assert anchors.lockfile_path == str(fetched.lockfile) and set(anchors.lines) >= {"tiny", "evil"}
    sarif = json.loads(api.render(report, "sarif", anchors=anchors))
    evil = [r for r in sarif["runs"][0]["results"] if r["properties"].get("model") == "evil"]
    region = evil[0]["locations"][0]["physicalLocation"]["region"]["startLine"]
    assert region == anchors.lines["evil"]
    assert json.loads(api.render(report, "json"))["models"][0].keys() == {
        "name", "repo", "commit", "admitted", "intact", "rescanned", "rehashed", "attested"}
    with pytest.raises(ValueError, match="unknown report format"):
        api.render(report, "xml")
