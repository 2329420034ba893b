"""Publishing into and out of the cache: an admission that cannot finish is undone, evictions can be put back,
re-attestation never waits and never writes a record someone else changed."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from filelock import FileLock

from modelguard.errors import UnreadableError
from modelguard.models import Severity
from modelguard.store.admission import blob_name, build_record
from modelguard.store.cache import Layout, StagedFile, new_quarantine, read_record, writer_lock
from modelguard.store.integrity import Group, check_snapshot
from modelguard.store.inventory import inventory
from modelguard.store.publish import admit, fingerprint_of, reattest, set_aside
from tests.cache_attacks import record_path, repo_dir
from tests.cache_helpers import COMMIT, OTHER_COMMIT, admit_local, allow_all, locked_model

FILES = {"weights.bin": b"tensor bytes " * 64, "config.txt": b"hidden=4\n"}


def _staged(layout: Layout, model, contents: dict[str, bytes], *, missing: str = "") -> tuple[list, object]:
    q = new_quarantine(layout, "test")
    staged = []
    for lf in model.files:
        dest = q / hashlib.sha256(lf.path.encode()).hexdigest()
        if lf.path != missing:
            dest.write_bytes(contents[lf.path])
        staged.append(StagedFile(lf.path, blob_name(lf), dest))
    from modelguard.models import FileResult

    results = {lf.path: FileResult(lf.path, "text", (), lf.size, lf.sha256) for lf in model.files}
    group = Group(model.repo, model.commit, (model,))
    return staged, build_record(group, results, allow_all(), Severity.MEDIUM, "test-scanner")


def test_an_admission_that_fails_half_way_leaves_nothing(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    model = locked_model("m", "acme/tiny", FILES)
    with writer_lock(layout):
        staged, record = _staged(layout, model, FILES, missing="weights.bin")  # its quarantine copy vanished
        with pytest.raises(FileNotFoundError):
            admit(layout, model.repo, model.commit, staged, ["main"], record)
    assert not repo_dir(tmp_path, "acme/tiny").exists() and not record_path(tmp_path, "acme/tiny", COMMIT).exists()
    assert inventory(layout) == []


def test_a_ref_that_cannot_be_written_undoes_the_record_and_the_snapshot(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    model = locked_model("m", "acme/tiny", FILES)
    (repo_dir(tmp_path, "acme/tiny") / "refs" / "main").mkdir(parents=True)  # a folder where the ref goes
    with writer_lock(layout):
        staged, record = _staged(layout, model, FILES)
        with pytest.raises((OSError, UnreadableError)):
            admit(layout, model.repo, model.commit, staged, ["main"], record)
    assert not record_path(tmp_path, "acme/tiny", COMMIT).exists()
    assert not (repo_dir(tmp_path, "acme/tiny") / "snapshots" / COMMIT).exists()
    assert not any((repo_dir(tmp_path, "acme/tiny") / "snapshots").glob(".*"))  # no half-built folder


def test_set_aside_then_restore_puts_everything_back_and_purge_removes_it(tmp_path: Path) -> None:
    model = locked_model("m", "acme/tiny", FILES)
    admit_local(tmp_path, model, FILES)
    layout = Layout(tmp_path)
    before = sorted((p.relative_to(tmp_path).as_posix(), p.is_symlink()) for p in (tmp_path / "hub").rglob("*"))
    with writer_lock(layout):
        aside = set_aside(layout, model.repo, model.commit)
        assert not (repo_dir(tmp_path, "acme/tiny") / "refs" / "main").exists()
        assert not record_path(tmp_path, "acme/tiny", COMMIT).exists()
        aside.restore()
    after = sorted((p.relative_to(tmp_path).as_posix(), p.is_symlink()) for p in (tmp_path / "hub").rglob("*"))
    assert after == before and check_snapshot(layout, Group(model.repo, model.commit, (model,))).intact
    with writer_lock(layout):
        set_aside(layout, model.repo, model.commit).purge()
    assert not repo_dir(tmp_path, "acme/tiny").exists() and inventory(layout) == []


def test_reattestation_never_waits_and_never_overwrites_a_changed_record(tmp_path: Path) -> None:
    model = locked_model("m", "acme/tiny", FILES)
    admit_local(tmp_path, model, FILES)
    layout = Layout(tmp_path)
    record = read_record(layout, model.repo, model.commit)
    assert record is not None
    blob = layout.blob(model.repo, blob_name(model.files[0]))
    fresh = {model.files[0].path: fingerprint_of(blob)}
    with FileLock(str(layout.lock_path)):  # a fetch is running
        assert reattest(layout, record, fresh) is False
    other = locked_model("m", "acme/tiny", FILES, commit=OTHER_COMMIT)
    assert reattest(layout, read_record(layout, model.repo, model.commit) or record, fresh) is True
    stale = record  # read before the re-attestation above changed the record
    assert reattest(layout, stale, fresh) is False
    assert json.loads(record_path(tmp_path, "acme/tiny", COMMIT).read_text())["attested-at"]
    assert read_record(layout, other.repo, other.commit) is None


def test_reattestation_of_a_read_only_cache_is_skipped_not_failed(tmp_path: Path) -> None:
    model = locked_model("m", "acme/tiny", FILES)
    admit_local(tmp_path, model, FILES)
    layout = Layout(tmp_path)
    record = read_record(layout, model.repo, model.commit)
    assert record is not None
    os.chmod(layout.lock_path, 0o444)
    os.chmod(tmp_path, 0o555)  # an image's read-only layer (binds root only for the lock file's own mode)
    try:
        fresh = {model.files[0].path: fingerprint_of(layout.blob(model.repo, blob_name(model.files[0])))}
        with FileLock(str(layout.lock_path)):
            assert reattest(layout, record, fresh) is False
    finally:
        os.chmod(tmp_path, 0o755)
