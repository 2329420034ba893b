"""One model at a time, and deploying from the lock alone (issue 15), through the CLI.

``fetch NAME``, ``verify NAME``, ``path NAME``, ``list``, ``fetch --dry-run`` and ``--frozen`` each
run as a user runs them (``modelguard.cli.run``, the real huggingface_hub client against the
loopback fake Hub); every refusal shows its exit code, one line and that nothing was admitted.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from modelguard import api
from modelguard.cli import run
from modelguard.demo import artifacts
from tests.cache_helpers import publish, write_project
from tests.fakehub import FakeHub

A = {"config.json": artifacts.config("bert"), "model.safetensors": artifacts.safetensors({"w": (16, 16)})}
B = {"config.json": artifacts.config("bert", hidden_size=8), "model.safetensors": artifacts.safetensors(
    {"w": (4, 8)}, seed=7)}
POLICY = 'allowed-orgs = ["acme"]'


@pytest.fixture
def project(fake_hub: FakeHub, tmp_path: Path) -> tuple[FakeHub, Path]:
    """A manifest and lock pinning ``a`` (acme/a) and ``b`` (acme/b); nothing fetched yet."""
    a = publish(fake_hub, "a", "acme/a", A, lfs=["model.safetensors"])
    b = publish(fake_hub, "b", "acme/b", B, lfs=["model.safetensors"])
    write_project(tmp_path, [a, b], POLICY)
    return fake_hub, tmp_path


def mg(hub: FakeHub, root: Path, *args: str) -> int:
    return run(["--endpoint", hub.endpoint, *args, "--lockfile", str(root / "modelguard.lock"),
                "--cache-dir", str(root / "cache")])


def snapshots(root: Path) -> set[str]:
    hub = root / "cache" / "hub"
    return {p.name for p in hub.iterdir()} if hub.is_dir() else set()


def content_gets(hub: FakeHub) -> list[str]:
    return [r.path for r in hub.requests if r.method == "GET" and not r.path.startswith("/api/models/")]


# --- fetch NAME, verify NAME -----------------------------------------------------------------


def test_fetch_name_fetches_that_model_only(project: tuple[FakeHub, Path], capsys) -> None:
    hub, root = project
    assert mg(hub, root, "fetch", "a", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(m["name"], m["status"]) for m in doc["models"]] == [("a", "admitted")]
    assert snapshots(root) == {"models--acme--a"}
    assert all("acme/b" not in r.path for r in hub.requests)  # b was never asked for
    assert doc["policy"]["source"].endswith("modelguard.toml") and doc["policy"]["frozen"] is False


def test_fetch_by_repo_id_and_co_pinned_entries_come_along(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    a = publish(fake_hub, "a", "acme/a", A, lfs=["model.safetensors"])
    a2 = a.__class__(**{**a.__dict__, "name": "a-too"})  # a second entry pinning the same commit
    write_project(tmp_path, [a, a2], POLICY)
    assert mg(fake_hub, tmp_path, "fetch", "acme/a", "--format", "json") == 2  # two entries lock it: ask by name
    assert "locked 2 times" in capsys.readouterr().err
    assert mg(fake_hub, tmp_path, "fetch", "a-too", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert sorted(m["name"] for m in doc["models"]) == ["a", "a-too"]  # one snapshot, admitted for both


def test_fetch_of_a_name_the_lock_does_not_pin_is_refused_before_any_request(
    project: tuple[FakeHub, Path], capsys
) -> None:
    hub, root = project
    hub.clear_requests()
    assert mg(hub, root, "fetch", "a", "nope") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'nope' is not a model name or repo" in err[0] and "locked: a, b" in err[0]
    assert hub.requests == [] and snapshots(root) == set()


def test_verify_name_checks_that_model_only(project: tuple[FakeHub, Path], capsys) -> None:
    hub, root = project
    assert mg(hub, root, "fetch", "a") == 0
    capsys.readouterr()
    assert mg(hub, root, "verify", "a", "--format", "json") == 0  # b is not fetched, and not asked about
    doc = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in doc["models"]] == ["a"] and doc["ok"] is True
    assert mg(hub, root, "verify", "b") == 1  # locked, not admitted
    assert "MG-H101" in capsys.readouterr().out
    assert mg(hub, root, "verify", "c") == 2


# --- path NAME -------------------------------------------------------------------------------


def test_path_prints_the_admitted_snapshot_folder_and_nothing_else(project: tuple[FakeHub, Path], capsys) -> None:
    hub, root = project
    assert mg(hub, root, "fetch", "a") == 0
    capsys.readouterr()
    assert run(["path", "a", "--lockfile", str(root / "modelguard.lock"), "--cache-dir", str(root / "cache")]) == 0
    out, err = capsys.readouterr()
    folder = Path(out.strip())
    assert out.count("\n") == 1 and err == ""
    assert folder == api.snapshot("a", lockfile=root / "modelguard.lock", cache_dir=root / "cache")
    assert (folder / "model.safetensors").read_bytes() == A["model.safetensors"]


@pytest.mark.parametrize(("name", "damage", "code", "rule"), [
    ("b", None, 1, "MG-H101"),               # locked, never fetched
    ("a", "tamper", 1, "MG-H001"),           # admitted, then a blob changed: --verify re-hashes
    ("zzz", None, 2, ""),                    # not locked at all
])
def test_path_refuses_as_snapshot_does_and_prints_no_path(
    project: tuple[FakeHub, Path], capsys, name: str, damage: str | None, code: int, rule: str
) -> None:
    hub, root = project
    assert mg(hub, root, "fetch", "a") == 0
    if damage == "tamper":
        blob = next((root / "cache" / "hub" / "models--acme--a" / "blobs").iterdir())
        blob.chmod(0o644)
        data = bytearray(blob.read_bytes())
        data[-1] ^= 1
        stat = blob.stat()
        blob.write_bytes(bytes(data))
        os.utime(blob, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # size and mtime as admitted
    capsys.readouterr()
    args = ["path", name, "--lockfile", str(root / "modelguard.lock"), "--cache-dir", str(root / "cache"), "--verify"]
    assert run(args) == code
    out, err = capsys.readouterr()
    assert out == ""  # `$(modelguard path NAME)` never expands to a doubtful folder
    assert len(err.strip().splitlines()) == 1 and rule in err
    with pytest.raises(Exception) as raised:
        api.snapshot(name, lockfile=root / "modelguard.lock", cache_dir=root / "cache", verify=True)
    assert int(raised.value.exit_code) == code  # exactly as snapshot() decides


# --- list ------------------------------------------------------------------------------------


def test_list_shows_admitted_and_not_admitted_snapshots_with_sizes(project: tuple[FakeHub, Path], capsys) -> None:
    hub, root = project
    assert mg(hub, root, "fetch", "a") == 0
    # A snapshot another tool left in the cache: listed, never called admitted.
    cache = root / "cache"
    stray = cache / "hub" / "models--acme--b" / "snapshots" / ("f" * 40)
    stray.mkdir(parents=True)
    (stray / "config.json").write_bytes(b"{}")
    (cache / "hub" / "models--acme--a" / "blobs" / ("e" * 64)).write_bytes(b"loose" * 10)  # named by no record
    (cache / "hub" / "notes.txt").write_text("left by another tool")
    partial = cache / "quarantine" / "partial"  # what an interrupted fetch keeps to resume
    partial.mkdir(parents=True)
    (partial / f"{'cd' * 32}.part").write_bytes(b"x" * 300)
    (partial / f"{'cd' * 32}.ranges").write_text('{"size": 1000, "done": [[0, 300]]}')
    capsys.readouterr()
    assert run(["list", "--cache-dir", str(cache), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {(s["repo"], s["state"]): s for s in doc["snapshots"]}
    assert set(rows) == {("acme/a", "admitted"), ("acme/b", "not admitted")}
    assert rows["acme/a", "admitted"]["names"] == ["a"] and rows["acme/a", "admitted"]["files"] == 2
    assert rows["acme/a", "admitted"]["bytes"] == sum(len(v) for v in A.values())
    assert rows["acme/b", "not admitted"]["bytes"] == 2
    assert doc["loose-blobs"] == {"count": 1, "bytes": 50}
    assert doc["strays"] == [{"kind": "file", "path": "hub/notes.txt", "bytes": 20}]
    assert [(p["size"], p["bytes"]) for p in doc["partial-downloads"]] == [(1000, 300)]
    assert doc["bytes"] == sum(len(v) for v in A.values()) + 2 + 50 + 20 + 300
    assert run(["list", "--cache-dir", str(cache)]) == 0
    text = capsys.readouterr().out
    assert "admitted      a " in text and "not admitted" in text and "2 snapshot(s), 1 admitted" in text
    assert "a fetch resumes it; removed in 168 h if not" in text


def test_list_of_a_cache_that_does_not_exist_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert run(["list", "--cache-dir", str(tmp_path / "nowhere")]) == 2
    assert "no verified cache" in capsys.readouterr().err


# --- fetch --dry-run -------------------------------------------------------------------------


def test_dry_run_says_what_and_how_much_and_changes_nothing(project: tuple[FakeHub, Path], capsys) -> None:
    hub, root = project
    hub.clear_requests()
    assert mg(hub, root, "fetch", "--dry-run", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dry-run"] is True and hub.requests == [] and not (root / "cache").exists()
    total = sum(len(v) for v in (*A.values(), *B.values()))
    assert doc["download-bytes"] == total and doc["files-to-download"] == 4
    assert mg(hub, root, "fetch", "a") == 0
    capsys.readouterr()
    assert mg(hub, root, "fetch", "--dry-run") == 0
    text = capsys.readouterr().out
    assert "ADMITTED  a" in text and "FETCH     b" in text
    assert f"would download {sum(len(v) for v in B.values())} B in 2 file(s)" in text


def test_dry_run_counts_what_a_partial_download_already_holds(project: tuple[FakeHub, Path], capsys) -> None:
    hub, root = project
    locked = {f.path: f for f in api.check_lock(root / "modelguard.toml").hf_models[1].files}
    weights = locked["model.safetensors"]
    partial = root / "cache" / "quarantine" / "partial"
    partial.mkdir(parents=True)
    (partial / f"{weights.sha256}.part").write_bytes(B["model.safetensors"][:100])
    (partial / f"{weights.sha256}.ranges").write_text(json.dumps({"size": weights.size, "done": [[0, 100]]}))
    assert mg(hub, root, "fetch", "b", "--dry-run", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    (model,) = doc["models"]
    files = {f["path"]: f for f in model["files"]}
    assert files["model.safetensors"]["action"] == "resume"
    assert files["model.safetensors"]["download-bytes"] == weights.size - 100


def test_dry_run_and_list_follow_the_output_options(project: tuple[FakeHub, Path], capsys) -> None:
    """-f/-o as every command takes them (``-o -`` is stdout, a file is written whole), global options after
    the subcommand; SARIF is refused for a plan or an inventory (nothing to anchor), exit 2, nothing written."""
    hub, root = project
    out = root / "plan.json"
    assert run(["fetch", "b", "--dry-run", "-f", "json", "-o", str(out), "--lockfile", str(root / "modelguard.lock"),
                "--cache-dir", str(root / "cache"), "--endpoint", hub.endpoint, "-q"]) == 0
    assert capsys.readouterr().out == "" and json.loads(out.read_text())["schema"] == "modelguard/fetch-plan/v1"
    assert mg(hub, root, "fetch", "--dry-run", "-f", "json", "-o", "-") == 0
    assert json.loads(capsys.readouterr().out)["files-to-download"] == 4
    assert mg(hub, root, "fetch", "--dry-run", "-f", "sarif") == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("modelguard: error: -f sarif: a fetch plan is written as")
    assert mg(hub, root, "fetch", "a") == 0
    capsys.readouterr()
    listing = root / "list.json"
    assert run(["list", "--cache-dir", str(root / "cache"), "-f", "json", "-o", str(listing), "-v"]) == 0
    assert [s["state"] for s in json.loads(listing.read_text())["snapshots"]] == ["admitted"]
    assert run(["list", "--cache-dir", str(root / "cache"), "--format", "sarif"]) == 2
    assert "'sarif' is not one of 'text', 'json'" in capsys.readouterr().err


# --- --frozen: the lockfile alone ------------------------------------------------------------


def _deploy_machine(root: Path, policy: str = POLICY) -> Path:
    """The manifest is gone (a deployment image); the org's policy file is there."""
    (root / "modelguard.toml").unlink()
    path = root / "org-policy.toml"
    path.write_text(policy + "\n")
    return path


def test_frozen_fetches_and_verifies_from_the_lock_alone(project: tuple[FakeHub, Path], capsys) -> None:
    hub, root = project
    policy = _deploy_machine(root)
    assert mg(hub, root, "fetch") == 2  # without --frozen the manifest is needed
    assert "no manifest" in capsys.readouterr().err
    assert mg(hub, root, "fetch", "--frozen") == 2  # ... and with it, the policy must be named
    assert "pass --policy FILE" in capsys.readouterr().err
    assert mg(hub, root, "fetch", "--frozen", "--policy", str(policy), "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert [m["status"] for m in doc["models"]] == ["admitted", "admitted"]
    assert doc["policy"] == {"source": str(policy), "sha256": doc["policy"]["sha256"],
                             "locked-sha256": doc["policy"]["sha256"], "frozen": True}
    assert mg(hub, root, "verify", "--frozen", "--policy", str(policy)) == 0
    text = capsys.readouterr().out
    assert f"policy: {policy} (sha256 " in text and "--frozen: the lockfile alone" in text


def test_frozen_names_a_policy_other_than_the_locked_one(project: tuple[FakeHub, Path], capsys) -> None:
    hub, root = project
    policy = _deploy_machine(root, 'allowed-orgs = ["acme", "google"]')
    assert mg(hub, root, "fetch", "--frozen", "--policy", str(policy), "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert [f["rule"] for f in doc["findings"]] == ["MG-L040"]  # said, and low: passes at fail-on medium
    assert mg(hub, root, "verify", "--frozen", "--policy", str(policy), "--fail-on", "low") == 1


def test_frozen_uses_the_lock_as_it_is_when_the_manifest_moved_on(project: tuple[FakeHub, Path], capsys) -> None:
    hub, root = project
    manifest = root / "modelguard.toml"
    manifest.write_text(manifest.read_text() + '\n[[hf-model]]\nname = "c"\nrepo = "acme/c"\n')
    assert mg(hub, root, "fetch") == 1  # stale: a normal fetch refuses
    assert "MG-L001" in capsys.readouterr().err
    assert mg(hub, root, "fetch", "--frozen", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert "MG-L041" in {f["rule"] for f in doc["findings"]}
    assert sorted(m["name"] for m in doc["models"]) == ["a", "b"]  # what the lock pins, nothing re-locked
    assert mg(hub, root, "fetch", "--frozen", "c") == 2  # never resolves what the lock does not pin
    assert "'c' is not a model name or repo" in capsys.readouterr().err


def test_frozen_refuses_a_lock_the_policy_wants_signed_before_any_request(
    project: tuple[FakeHub, Path], capsys
) -> None:
    from tests.trust_keys import new_key, write_key

    hub, root = project
    key = write_key(root, new_key("ed25519"))
    policy = _deploy_machine(root, f"[policy]\n{POLICY}\nrequire-signature = true\n\n{api.signer_entry(key)}")
    hub.clear_requests()
    assert mg(hub, root, "fetch", "--frozen", "--policy", str(policy)) == 1
    err = capsys.readouterr().err
    assert "MG-L101" in err and len(err.strip().splitlines()) == 1
    assert hub.requests == [] and snapshots(root) == set()
    api.sign(root / "modelguard.lock", key=key)
    assert mg(hub, root, "fetch", "--frozen", "--policy", str(policy)) == 0


def test_policy_without_frozen_is_a_usage_error(project: tuple[FakeHub, Path], capsys) -> None:
    hub, root = project
    assert mg(hub, root, "fetch", "--policy", str(root / "modelguard.toml")) == 2
    assert "--policy applies with --frozen only" in capsys.readouterr().err


# --- --max-workers, [fetch] max-workers, MODELGUARD_MAX_WORKERS --------------------------------


def test_max_workers_from_flag_environment_and_manifest(
    project: tuple[FakeHub, Path], capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, root = project
    assert mg(hub, root, "fetch", "--max-workers", "0") == 2
    monkeypatch.setenv("MODELGUARD_MAX_WORKERS", "many")
    assert mg(hub, root, "fetch") == 2
    assert "MODELGUARD_MAX_WORKERS" in capsys.readouterr().err
    monkeypatch.setenv("MODELGUARD_MAX_WORKERS", "1")
    assert mg(hub, root, "fetch", "a") == 0  # one connection at a time still fetches everything
    monkeypatch.delenv("MODELGUARD_MAX_WORKERS")
    manifest = root / "modelguard.toml"
    manifest.write_text(manifest.read_text() + "\n[fetch]\nmax-workers = 500\n")
    assert mg(hub, root, "fetch") == 2
    assert "max-workers" in capsys.readouterr().err
    manifest.write_text(manifest.read_text().replace("max-workers = 500", "max-workers = 2"))
    assert mg(hub, root, "fetch", "b") == 0


def test_interrupted_partials_are_cleaned_after_their_age(project: tuple[FakeHub, Path]) -> None:
    from modelguard.store.partial import MAX_AGE

    hub, root = project
    old = root / "cache" / "quarantine" / "partial"
    old.mkdir(parents=True)
    stale = time.time() - MAX_AGE - 1
    for name in (f"{'cd' * 32}.part", f"{'cd' * 32}.ranges"):
        (old / name).write_text('{"size": 5, "done": [[0, 5]]}')
        os.utime(old / name, (stale, stale))
    assert mg(hub, root, "fetch", "a") == 0
    assert not old.exists()  # swept when the next fetch started
