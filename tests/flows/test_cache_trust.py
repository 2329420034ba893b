"""The verified cache proves itself (issue 13): each attack on the cache, through the CLI and through
``snapshot()`` (and the loaders' hand-over, ``hf_offline()`` / ``modelguard env``).

The models are locked and fetched for real from the loopback fake Hub (tests/api_helpers.py): tiny and
tiny-v1 (acme/tiny at main and its v1 tag), other, and evil, whose pickle ``fetch`` refuses (MG-S101).
Then the cache is written to by hand, as anyone who can write it (a restored CI cache, a shared
volume, an image layer, another tool) would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modelguard import api
from modelguard.cli import run
from modelguard.errors import ExitCode, IntegrityError, UnsafeContentError
from modelguard.store.digest import git_blob_sha1
from tests.api_helpers import CLEAN, EVIL, LFS, Project, make_project
from tests.cache_attacks import (
    copy_with,
    forged_record,
    opened_up,
    plant,
    record_path,
    rehash_events,
    repo_dir,
)
from tests.fakehub import FakeHub


@pytest.fixture
def fetched(tmp_path: Path, fake_hub: FakeHub) -> Project:
    project = make_project(tmp_path, fake_hub)
    project.lock()
    project.fetch()  # tiny, tiny-v1, other admitted; evil refused
    fake_hub.clear_requests()
    return project


def verify_json(project: Project, *extra: str, capsys: pytest.CaptureFixture[str],
                cache: Path | None = None) -> tuple[int, dict]:
    code = run(["verify", "--lockfile", str(project.lockfile), "--cache-dir", str(cache or project.cache),
                "--format", "json", *extra])
    return code, json.loads(capsys.readouterr().out)


def rules(doc: dict, model: str | None = None) -> set[str]:
    return {f["rule"] for f in doc["findings"] if model is None or f.get("model") == model}


def without_manifest(project: Project) -> None:
    """A deployed image that ships only the lockfile: snapshot() cannot apply the policy in force."""
    project.manifest.rename(project.root / "manifest-kept-elsewhere.toml")


def blob_of(project: Project, repo: str, path: str) -> Path:
    return Path(os.path.realpath(project.snapshot_dir(repo) / path))


# --- a record is a log, never an authority ----------------------------------------------------------


def test_a_record_copied_from_a_good_model_does_not_pass_a_refused_pickle(fetched: Project, capsys) -> None:
    tiny = fetched.commits["acme/tiny"]
    evil = fetched.commits["acme/evil"]
    genuine = json.loads(record_path(fetched.cache, "acme/tiny", tiny).read_text())
    record = forged_record(genuine, "acme/evil", evil, EVIL, lfs=LFS)
    record["entries"] = [{"name": "evil", "requested-revision": "main", "spec-sha256": ""}]
    plant(fetched.cache, "acme/evil", evil, EVIL, lfs=LFS, record=record)

    code, doc = verify_json(fetched, capsys=capsys)
    assert code == ExitCode.REJECTED
    bad = next(f for f in doc["files"] if f["path"] == "evil:pytorch_model.bin")
    assert bad["verdict"] == "malicious" and "MG-S101" in {f["rule"] for f in bad["findings"]}
    assert "MG-H108" in rules(doc, "evil")  # the record says clean, the bytes say otherwise
    assert {m["name"]: m["rescanned"] for m in doc["models"]}["evil"] is True
    for verify in (False, True):
        with pytest.raises(UnsafeContentError) as e:
            api.snapshot("evil", lockfile=fetched.lockfile, cache_dir=fetched.cache, verify=verify)
        assert e.value.rule == "MG-S101"
    with pytest.raises(UnsafeContentError), api.hf_offline(fetched.cache):
        pass
    without_manifest(fetched)
    for verify in (False, True):
        with pytest.raises(UnsafeContentError):
            api.snapshot("evil", lockfile=fetched.lockfile, cache_dir=fetched.cache, verify=verify)
    assert api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache) == fetched.snapshot_dir(
        "acme/tiny")


def test_a_record_from_another_scanner_is_not_compared_but_the_bytes_still_decide(fetched: Project,
                                                                                  capsys) -> None:
    evil = fetched.commits["acme/evil"]
    genuine = json.loads(record_path(fetched.cache, "acme/tiny", fetched.commits["acme/tiny"]).read_text())
    record = forged_record({**genuine, "scanner": "0.0.1+elsewhere"}, "acme/evil", evil, EVIL, lfs=LFS)
    plant(fetched.cache, "acme/evil", evil, EVIL, lfs=LFS, record=record)
    code, doc = verify_json(fetched, capsys=capsys)
    assert code == ExitCode.REJECTED and "MG-S101" in rules(doc, "evil") and "MG-H108" not in rules(doc, "evil")


# --- stat fingerprints are a speed-up, never proof -------------------------------------------------


def test_an_edit_whose_mtime_was_put_back_is_rehashed_by_every_fast_path(fetched: Project, capsys) -> None:
    blob = blob_of(fetched, "acme/tiny", "model.safetensors")
    before = os.stat(blob)
    os.chmod(blob, 0o644)
    with open(blob, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    os.chmod(blob, 0o444)
    os.utime(blob, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (os.stat(blob).st_size, os.stat(blob).st_mtime_ns, os.stat(blob).st_ino) == (
        before.st_size, before.st_mtime_ns, before.st_ino)
    code, doc = verify_json(fetched, "--fast", capsys=capsys)
    assert code == ExitCode.REJECTED and "MG-H001" in rules(doc, "tiny")
    assert {m["name"]: m["rehashed"] for m in doc["models"]}["tiny"] == ["model.safetensors"]
    for verify in (False, True):
        with pytest.raises(IntegrityError) as e:
            api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache, verify=verify)
        assert e.value.rule == "MG-H001"
    with pytest.raises(IntegrityError, match=r"MG-H001|sha256"), api.hf_offline(fetched.cache):
        pass


def test_blobs_replaced_by_a_link_to_another_folder_is_refused_before_anything_is_resolved(
        fetched: Project, tmp_path: Path, capsys) -> None:
    blobs = repo_dir(fetched.cache, "acme/tiny") / "blobs"
    elsewhere = tmp_path / "elsewhere"
    opened_up(blobs.parent)
    shutil.copytree(blobs, elsewhere)  # the same bytes: only the link is wrong
    os.chmod(blobs, 0o755)
    shutil.rmtree(blobs)
    os.symlink(elsewhere, blobs)
    code, doc = verify_json(fetched, capsys=capsys)
    assert code == ExitCode.REJECTED and "MG-H109" in rules(doc, "tiny")
    for verify in (False, True):
        with pytest.raises(IntegrityError) as e:
            api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache, verify=verify)
        assert e.value.rule == "MG-H109"
    with pytest.raises(IntegrityError, match="symlink"), api.hf_offline(fetched.cache):
        pass
    without_manifest(fetched)
    with pytest.raises(IntegrityError) as e:
        api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache)
    assert e.value.rule == "MG-H109"


def test_a_linked_hub_or_snapshot_folder_is_refused(fetched: Project, tmp_path: Path, capsys) -> None:
    snap = fetched.snapshot_dir("acme/other")
    moved = tmp_path / "moved-snapshot"
    opened_up(snap.parent)
    os.rename(snap, moved)
    os.symlink(moved, snap)
    code, doc = verify_json(fetched, capsys=capsys)
    assert code == ExitCode.REJECTED and "MG-H109" in rules(doc, "other")
    with pytest.raises(IntegrityError) as e:
        api.snapshot("other", lockfile=fetched.lockfile, cache_dir=fetched.cache)
    assert e.value.rule == "MG-H109"
    hub = fetched.cache / "hub"
    real = tmp_path / "real-hub"
    os.rename(hub, real)
    os.symlink(real, hub)
    code, doc = verify_json(fetched, capsys=capsys)
    assert code == ExitCode.REJECTED and any(f["rule"] == "MG-H109" and f["location"] == "hub"
                                             for f in doc["findings"])


# --- everything in the cache is accounted for --------------------------------------------------------


def test_what_was_not_admitted_fails_verify_and_is_never_handed_to_loaders(fetched: Project, capsys) -> None:
    cache = fetched.cache
    other_commit = "ab" * 20
    plant(cache, "acme/planted", other_commit, {"config.json": b"{}"})                  # a whole repo
    extra = b'{"x": 1}'
    plant(cache, "acme/tiny", other_commit, {"config.json": extra}, refs={})            # an extra snapshot
    tiny_refs = repo_dir(cache, "acme/tiny") / "refs"
    (tiny_refs / "dev").write_text(fetched.commits["acme/tiny"])                         # a ref nobody locked
    (repo_dir(cache, "acme/other") / "blobs" / ("0" * 64)).write_bytes(b"stray")          # a blob nobody names
    (cache / "hub" / ".locks").mkdir()                                                   # huggingface_hub's own
    (cache / "notes.txt").write_text("hello")                                            # a stray file

    code, doc = verify_json(fetched, capsys=capsys)
    assert code == ExitCode.REJECTED
    stray = sorted(f["location"] for f in doc["findings"] if f["rule"] == "MG-H110")
    assert stray == sorted([
        "hub/.locks", "hub/models--acme--planted", f"hub/models--acme--tiny/snapshots/{other_commit}",
        "hub/models--acme--tiny/refs/dev", f"hub/models--acme--other/blobs/{'0' * 64}", "notes.txt",
        "hub/models--acme--tiny/blobs/" + git_blob_sha1(extra)])  # the extra snapshot's blob
    assert all(m["intact"] for m in doc["models"] if m["name"] != "evil")  # the admitted ones are fine
    # snapshot() hands out only its own admitted folder, never the extra one
    assert api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=cache) == fetched.snapshot_dir("acme/tiny")
    with pytest.raises(IntegrityError) as e, api.hf_offline(cache):
        pass
    assert e.value.rule == "MG-H110"
    code = run(["env", "--cache-dir", str(cache)])
    out = capsys.readouterr()
    assert code == ExitCode.REJECTED and "MG-H110" in out.err
    assert f"export HF_HUB_CACHE={cache / 'hub'}\n" not in out.out and "export HF_HUB_OFFLINE=1" in out.out

    code = run(["prune", "--cache-dir", str(cache), "--dry-run"])
    listed = capsys.readouterr().out
    assert code == 0 and "would remove" in listed and "models--acme--planted" in listed
    assert (repo_dir(cache, "acme/planted")).exists()
    assert run(["prune", "--cache-dir", str(cache)]) == 0
    capsys.readouterr()
    assert not repo_dir(cache, "acme/planted").exists() and not (tiny_refs / "dev").exists()
    code, doc = verify_json(fetched, capsys=capsys)
    assert "MG-H110" not in rules(doc) and all(m["intact"] for m in doc["models"] if m["name"] != "evil")
    with api.hf_offline(cache) as hub:
        assert hub == cache / "hub"


def test_a_ref_moved_to_a_planted_snapshot_is_refused_by_snapshot(fetched: Project, capsys) -> None:
    other_commit = "cd" * 20
    plant(fetched.cache, "acme/tiny", other_commit, {"config.json": b'{"evil": 1}'}, refs={"main": other_commit})
    with pytest.raises(IntegrityError) as e:
        api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache)
    assert e.value.rule == "MG-H103"
    code, doc = verify_json(fetched, capsys=capsys)
    assert code == ExitCode.REJECTED and {"MG-H103", "MG-H110"} <= rules(doc)


# --- a byte-identical copy is not tampering ------------------------------------------------------------


@pytest.mark.parametrize("tool", ["tar", "cp -a"])
def test_a_copied_cache_works_after_one_full_check(fetched: Project, tmp_path: Path, tool: str, capsys) -> None:
    copy = tmp_path / f"copy-{tool.replace(' ', '')}"
    copy_with(tool, fetched.cache, copy)
    locked = {p for p in CLEAN}
    # Before any full check, the fast paths see new inodes and ctimes: they re-hash, never call it tampering.
    code, doc = verify_json(fetched, "--fast", capsys=capsys, cache=copy)
    tiny = next(m for m in doc["models"] if m["name"] == "tiny")
    assert "MG-H001" not in rules(doc) and set(tiny["rehashed"]) == locked and tiny["attested"]
    assert code == ExitCode.REJECTED and rules(doc) <= {"MG-H101", "MG-H105"}  # evil was never admitted
    # After that one check: verify --fast and snapshot() hash nothing.
    code, doc = verify_json(fetched, "--fast", capsys=capsys, cache=copy)
    assert all(m["rehashed"] == [] for m in doc["models"])
    with rehash_events() as hashed:
        assert api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=copy) == \
            copy / "hub" / "models--acme--tiny" / "snapshots" / fetched.commits["acme/tiny"]
        with api.hf_offline(copy):
            pass
    assert hashed == []
    with rehash_events() as hashed:  # a full verify still hashes everything, always
        code, doc = verify_json(fetched, capsys=capsys, cache=copy)
    assert {p for _, _, p in hashed} >= locked


@pytest.mark.parametrize("tool", ["tar", "cp -a"])
def test_snapshot_alone_re_attests_a_copied_cache(fetched: Project, tmp_path: Path, tool: str) -> None:
    copy = tmp_path / "copy"
    copy_with(tool, fetched.cache, copy)
    with rehash_events() as hashed:
        api.snapshot("other", lockfile=fetched.lockfile, cache_dir=copy)
    assert sorted(p for _, _, p in hashed) == sorted(CLEAN)
    with rehash_events() as hashed:
        api.snapshot("other", lockfile=fetched.lockfile, cache_dir=copy)
    assert hashed == []
    record = json.loads(record_path(copy, "acme/other", fetched.commits["acme/other"]).read_text())
    assert record["attested-at"] and all(f["fingerprint"]["inode"] == os.lstat(
        repo_dir(copy, "acme/other") / "blobs" / f["blob"]).st_ino for f in record["files"])


def test_eval_of_a_refused_env_loads_nothing_even_when_its_status_is_ignored(fetched: Project) -> None:
    plant(fetched.cache, "acme/planted", "ef" * 20, {"config.json": b"{}"})
    script = (f'eval "$({sys.executable} -m modelguard env --cache-dir \'{fetched.cache}\')"\n'
              f'exec {sys.executable} -c "$1"\n')
    load = "from huggingface_hub import snapshot_download as s\nfor r in ('acme/planted', 'acme/tiny'):\n" \
           "    try:\n        print(s(r))\n    except Exception as e:\n        print('refused', type(e).__name__)\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_ENDPOINT=fetched.hub.endpoint, HF_HOME=str(fetched.root / "hf-home"), HF_HUB_DISABLE_XET="1")
    proc = subprocess.run(["sh", "-c", script, "sh", load], capture_output=True, text=True, env=env, timeout=120)
    assert proc.stdout.split("\n")[:2] == ["refused LocalEntryNotFoundError"] * 2, proc.stdout + proc.stderr
    assert "MG-H110" in proc.stderr and fetched.hub.requests == []
