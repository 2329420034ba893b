"""The verified cache: root resolution, name validation, atomic admission in the Hub layout that
huggingface_hub reads offline, integrity checks of admitted snapshots, eviction and quarantine."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download, snapshot_download

from modelguard.errors import LockfileError
from modelguard.store.cache import (
    Layout,
    cache_root,
    check_commit,
    check_relpath,
    check_repo_id,
    new_quarantine,
    sweep_quarantine,
    writer_lock,
)
from modelguard.store.integrity import Group, check_snapshot, failing_integrity, group_models
from modelguard.store.publish import evict
from tests.cache_helpers import COMMIT, OTHER_COMMIT, admit_local, locked_model

FILES = {"weights.bin": b"tensor bytes " * 100, "config.txt": b"hidden=4\n", "sub/vocab.txt": b"a\nb\n"}


@pytest.fixture
def admitted(tmp_path: Path):
    model = locked_model("m", "acme/tiny", FILES)
    admit_local(tmp_path, model, FILES)
    return tmp_path, model


def rules(findings) -> set[str]:
    return {f.rule for f in findings}


def writable(path: Path) -> None:
    os.chmod(path, 0o644)


# --- root and names --------------------------------------------------------------------------


def test_cache_root_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MODELGUARD_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_root() == tmp_path / "home" / ".cache" / "modelguard"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "modelguard"
    monkeypatch.setenv("MODELGUARD_HOME", str(tmp_path / "mg"))
    assert cache_root() == tmp_path / "mg"
    assert cache_root(tmp_path / "flag") == tmp_path / "flag"


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a\\..\\b", "a\x00b", ""])
def test_paths_that_leave_the_repo_are_refused(path: str) -> None:
    with pytest.raises(LockfileError):
        check_relpath(path)


@pytest.mark.parametrize("repo", ["../x", "a/b/c", "a", "a/..", "/a/b", "a/b\n"])
def test_bad_repo_ids_are_refused(repo: str) -> None:
    with pytest.raises(LockfileError):
        check_repo_id(repo)


def test_bad_commits_are_refused() -> None:
    for commit in ("main", "A" * 40, "0" * 39, "../" + "0" * 37):
        with pytest.raises(LockfileError):
            check_commit(commit)


def test_traversing_revision_cannot_name_a_ref_outside(tmp_path: Path) -> None:
    with pytest.raises(LockfileError):
        Layout(tmp_path).ref("acme/tiny", "../../../evil")


# --- admission -------------------------------------------------------------------------------


def test_admission_writes_the_hub_layout(admitted) -> None:
    root, model = admitted
    repo_dir = root / "hub" / "models--acme--tiny"
    snap = repo_dir / "snapshots" / COMMIT
    for lf in model.files:
        link = snap / lf.path
        assert link.is_symlink() and not os.path.isabs(os.readlink(link))
        blob = Path(os.path.realpath(link))
        assert blob.parent == (repo_dir / "blobs").resolve()
        expected = lf.sha256 if lf.published == "lfs-sha256" else lf.git_blob_sha1
        assert blob.name == expected
        assert stat.S_IMODE(blob.stat().st_mode) == 0o444
        assert link.read_bytes() == FILES[lf.path]
    assert (repo_dir / "refs" / "main").read_text() == COMMIT  # no newline: huggingface_hub reads it raw
    record = json.loads((root / "admissions" / "models--acme--tiny" / f"{COMMIT}.json").read_text())
    assert record["commit"] == COMMIT and record["repo"] == "acme/tiny"
    assert {f["path"] for f in record["files"]} == set(FILES)
    assert all(f["verdict"] == "clean" and set(f["fingerprint"]) == {"size", "mtime-ns", "ctime-ns", "device", "inode"}
               for f in record["files"])
    # Sealed down to the folders: tools pointed at the cache cannot add to it without modelguard.
    for folder in (root / "hub", repo_dir, repo_dir / "blobs", repo_dir / "snapshots", snap, repo_dir / "refs",
                   root / "admissions", root / "admissions" / "models--acme--tiny"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o555, folder
    assert stat.S_IMODE((repo_dir / "refs" / "main").stat().st_mode) == 0o444
    assert record["scanner"] and record["policy-sha256"] and record["modelguard-version"]
    assert not list((root / "quarantine").iterdir())


def test_huggingface_hub_resolves_admitted_files_offline(admitted, monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = admitted
    hub = str(root / "hub")
    path = hf_hub_download("acme/tiny", "config.txt", revision="main", cache_dir=hub, local_files_only=True)
    assert Path(path).read_bytes() == FILES["config.txt"]
    assert os.path.realpath(path).startswith(os.path.realpath(hub))
    nested = hf_hub_download("acme/tiny", "sub/vocab.txt", revision=COMMIT, cache_dir=hub, local_files_only=True)
    assert Path(nested).read_bytes() == FILES["sub/vocab.txt"]
    folder = snapshot_download("acme/tiny", revision="main", cache_dir=hub, local_files_only=True)
    assert Path(folder) == root / "hub" / "models--acme--tiny" / "snapshots" / COMMIT
    with pytest.raises(Exception) as info:  # huggingface_hub raises its own offline error
        hf_hub_download("acme/other", "config.txt", cache_dir=hub, local_files_only=True)
    assert "acme/tiny" not in str(info.value)


def test_intact_snapshot_passes_full_and_fast(admitted) -> None:
    root, model = admitted
    group = Group(model.repo, model.commit, (model,))
    full = check_snapshot(Layout(root), group)
    assert full.intact and not full.all()
    fast = check_snapshot(Layout(root), group, fast=True)
    assert fast.intact  # --fast adds only the MG-H105 notice, which does not fail
    assert rules(fast.all()) == {"MG-H105"} and not failing_integrity(fast)
    assert sorted(fast.trusted) == sorted(FILES) and fast.rehashed == []  # fingerprints as admitted
    assert sorted(full.rehashed) == sorted(FILES)


def test_readmission_rebuilds_the_snapshot_from_the_lock(admitted) -> None:
    root, _ = admitted
    smaller = {"config.txt": FILES["config.txt"]}
    model = locked_model("m", "acme/tiny", smaller)
    admit_local(root, model, smaller)
    snap = root / "hub" / "models--acme--tiny" / "snapshots" / COMMIT
    assert sorted(p.name for p in snap.rglob("*")) == ["config.txt"]
    assert check_snapshot(Layout(root), Group(model.repo, model.commit, (model,))).intact


# --- tampering is found ---------------------------------------------------------------------


def _blob(root: Path, model, path: str) -> Path:
    return Path(os.path.realpath(root / "hub" / "models--acme--tiny" / "snapshots" / model.commit / path))


def test_same_size_edit_of_a_blob_is_found(admitted) -> None:
    root, model = admitted
    blob = _blob(root, model, "weights.bin")
    writable(blob)
    data = bytearray(blob.read_bytes())
    data[0] ^= 1
    st = blob.stat()
    blob.write_bytes(bytes(data))
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))  # an attacker restores the mtime
    group = Group(model.repo, model.commit, (model,))
    check = check_snapshot(Layout(root), group)
    assert rules(check.by_path["weights.bin"]) == {"MG-H001"}
    fast = check_snapshot(Layout(root), group, fast=True)  # the ctime moved: the fast check re-hashes it
    assert rules(fast.by_path["weights.bin"]) == {"MG-H001"} and fast.rehashed == ["weights.bin"]


def test_fast_mode_sees_a_replaced_file(admitted) -> None:
    root, model = admitted
    blob = _blob(root, model, "weights.bin")
    replacement = blob.with_name("x")
    replacement.write_bytes(b"T" + blob.read_bytes()[1:])
    os.replace(replacement, blob)
    check = check_snapshot(Layout(root), Group(model.repo, model.commit, (model,)), fast=True)
    assert "MG-H001" in rules(check.by_path["weights.bin"])
    assert check.rehashed == ["weights.bin"] and not check.intact


def test_size_change_missing_extra_and_foreign_links_are_found(admitted, tmp_path_factory) -> None:
    root, model = admitted
    snap = root / "hub" / "models--acme--tiny" / "snapshots" / COMMIT
    blob = _blob(root, model, "config.txt")
    writable(blob)
    blob.write_bytes(b"hidden=4096\n")
    (snap / "sub" / "vocab.txt").unlink()
    outside = tmp_path_factory.mktemp("elsewhere") / "evil.bin"
    outside.write_bytes(FILES["weights.bin"])
    (snap / "weights.bin").unlink()
    os.symlink(outside, snap / "weights.bin")
    (snap / "extra.py").write_text("import os\n")
    check = check_snapshot(Layout(root), Group(model.repo, model.commit, (model,)))
    assert rules(check.by_path["config.txt"]) == {"MG-H002"}
    assert rules(check.by_path["sub/vocab.txt"]) == {"MG-H006"}
    assert rules(check.by_path["weights.bin"]) == {"MG-H102"}
    assert rules(check.general) == {"MG-H007"}


def test_plain_file_in_snapshot_is_not_trusted(admitted) -> None:
    root, model = admitted
    link = root / "hub" / "models--acme--tiny" / "snapshots" / COMMIT / "config.txt"
    link.unlink()
    link.write_bytes(FILES["config.txt"])  # right bytes, but not a blob modelguard admitted
    check = check_snapshot(Layout(root), Group(model.repo, model.commit, (model,)))
    assert rules(check.by_path["config.txt"]) == {"MG-H102"}


def test_moved_ref_is_found(admitted) -> None:
    root, model = admitted
    (root / "hub" / "models--acme--tiny" / "refs" / "main").write_text(OTHER_COMMIT)
    check = check_snapshot(Layout(root), Group(model.repo, model.commit, (model,)))
    assert rules(check.general) == {"MG-H103"}


def test_missing_or_corrupt_record_means_not_admitted(admitted) -> None:
    root, model = admitted
    record = root / "admissions" / "models--acme--tiny" / f"{COMMIT}.json"
    os.chmod(record, 0o644)
    record.write_text("{not json")
    assert not check_snapshot(Layout(root), Group(model.repo, model.commit, (model,))).admitted
    record.unlink()
    check = check_snapshot(Layout(root), Group(model.repo, model.commit, (model,)))
    assert rules(check.all()) == {"MG-H101"} and not check.admitted


def test_lock_with_other_hashes_than_the_record(admitted) -> None:
    root, _ = admitted
    changed = dict(FILES, **{"config.txt": b"hidden=8\n"})
    model = locked_model("m", "acme/tiny", changed)
    check = check_snapshot(Layout(root), Group(model.repo, model.commit, (model,)))
    assert "MG-H104" in rules(check.by_path["config.txt"])


def test_two_entries_pinning_one_commit_with_different_hashes_is_a_lockfile_error() -> None:
    a = locked_model("a", "acme/tiny", {"x.txt": b"1"})
    b = locked_model("b", "acme/tiny", {"x.txt": b"2"})
    (group,) = group_models([a, b])
    with pytest.raises(LockfileError):
        _ = group.files


# --- eviction and quarantine -----------------------------------------------------------------


def test_evict_removes_snapshot_refs_record_and_unused_blobs(admitted) -> None:
    root, model = admitted
    keep = locked_model("k", "acme/tiny", {"config.txt": FILES["config.txt"]}, commit=OTHER_COMMIT, revision="v1")
    admit_local(root, keep, {"config.txt": FILES["config.txt"]})
    evict(Layout(root), model.repo, model.commit)
    repo_dir = root / "hub" / "models--acme--tiny"
    assert not (repo_dir / "snapshots" / COMMIT).exists()
    assert not (repo_dir / "refs" / "main").exists()
    assert not (root / "admissions" / "models--acme--tiny" / f"{COMMIT}.json").exists()
    assert [b.name for b in (repo_dir / "blobs").iterdir()] == [keep.files[0].git_blob_sha1]
    assert check_snapshot(Layout(root), Group(keep.repo, keep.commit, (keep,))).intact


def test_sweep_removes_leftovers_even_read_only(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    with writer_lock(layout):
        q = new_quarantine(layout, "acme/tiny@abc")
        (q / "partial.download").write_bytes(b"half")
        os.chmod(q / "partial.download", 0o444)
        os.chmod(q, 0o500)
        sweep_quarantine(layout)
    assert list(layout.quarantine.iterdir()) == []


def test_loaders_pointed_at_the_cache_by_environment_see_only_admitted_models(admitted) -> None:
    """HF_HUB_CACHE is read when huggingface_hub is imported: check it in a fresh interpreter."""
    import subprocess
    import sys

    root, _ = admitted
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_CACHE=str(root / "hub"), HF_HUB_OFFLINE="1", HF_HOME=str(root / "hf-home"))
    code = ("import sys\nfrom huggingface_hub import hf_hub_download, snapshot_download\n"
            "print(hf_hub_download('acme/tiny', 'config.txt'))\nprint(snapshot_download('acme/tiny'))\n"
            "try:\n    hf_hub_download('acme/not-admitted', 'config.txt')\nexcept Exception as e:\n"
            "    print('refused', type(e).__name__)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    file_path, folder, refused = proc.stdout.splitlines()
    assert Path(file_path).read_bytes() == FILES["config.txt"]
    assert Path(folder) == root / "hub" / "models--acme--tiny" / "snapshots" / COMMIT
    assert refused.startswith("refused")


def test_writer_lock_waits_for_the_other_writer_and_says_so(tmp_path: Path, caplog) -> None:
    import threading
    import time

    from filelock import FileLock

    layout = Layout(tmp_path)
    layout.create()
    entered = threading.Event()

    def second_writer() -> None:
        with writer_lock(layout):
            entered.set()

    with FileLock(str(layout.lock_path)):  # another process's fetch holds the cache
        worker = threading.Thread(target=second_writer)
        worker.start()
        deadline = time.monotonic() + 30
        while "waiting for another modelguard process" not in caplog.text:
            assert time.monotonic() < deadline, "the second writer never reported waiting"
            time.sleep(0.01)
        assert not entered.is_set()
    worker.join(timeout=30)
    assert entered.is_set()


def test_readmission_sweeps_a_crashed_admissions_leftovers(admitted) -> None:
    root, model = admitted
    snapshots = root / "hub" / "models--acme--tiny" / "snapshots"
    (snapshots / f".building-{COMMIT}-dead").mkdir()
    (snapshots / f".old-{COMMIT}-dead").mkdir()
    admit_local(root, model, FILES)
    assert sorted(p.name for p in snapshots.iterdir()) == [COMMIT]
