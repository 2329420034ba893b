"""The inventory: what in the cache no admitted snapshot accounts for; and prune, which removes exactly that."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modelguard import api
from modelguard.cli import run
from modelguard.store.cache import Layout
from modelguard.store.inventory import admitted_records, inventory
from tests.cache_attacks import plant, record_path, repo_dir
from tests.cache_helpers import COMMIT, OTHER_COMMIT, admit_local, locked_model

FILES = {"weights.bin": b"tensor bytes " * 64, "config.txt": b"hidden=4\n"}


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    root = tmp_path / "cache"
    admit_local(root, locked_model("m", "acme/tiny", FILES), FILES)
    return root


def kinds(root: Path) -> list[tuple[str, str]]:
    layout = Layout(root)
    return [(s.kind, s.rel(layout)) for s in inventory(layout)]


def test_an_admitted_cache_has_nothing_stray(cache: Path) -> None:
    assert kinds(cache) == []
    assert [(r.repo, r.commit) for r in admitted_records(Layout(cache))] == [("acme/tiny", COMMIT)]


def test_a_record_without_its_snapshot_and_a_snapshot_without_its_record(cache: Path) -> None:
    other = locked_model("o", "acme/other", {"config.txt": b"x"})
    admit_local(cache, other, {"config.txt": b"x"})
    os.chmod(repo_dir(cache, "acme/other") / "snapshots", 0o755)
    os.rename(repo_dir(cache, "acme/other") / "snapshots" / COMMIT, cache / "moved-away")
    plant(cache, "acme/tiny", OTHER_COMMIT, {"config.txt": b"y"}, refs={})
    found = kinds(cache)
    assert ("record", f"admissions/models--acme--other/{COMMIT}.json") in found
    assert ("repo", "hub/models--acme--other") in found  # its only snapshot is gone
    assert ("snapshot", f"hub/models--acme--tiny/snapshots/{OTHER_COMMIT}") in found
    assert ("file", "moved-away") in found


def test_a_record_for_another_commit_does_not_admit_a_snapshot(cache: Path) -> None:
    """A genuine record copied under another commit's name speaks for the commit it names, not this one."""
    plant(cache, "acme/tiny", OTHER_COMMIT, FILES, refs={})
    genuine = record_path(cache, "acme/tiny", COMMIT)
    copy = record_path(cache, "acme/tiny", OTHER_COMMIT)
    os.chmod(copy.parent, 0o755)
    copy.write_text(genuine.read_text())
    assert ("snapshot", f"hub/models--acme--tiny/snapshots/{OTHER_COMMIT}") in kinds(cache)


def test_links_are_strays_wherever_they_are(cache: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chmod(cache / "hub", 0o755)
    (cache / "hub" / "models--acme--linked").symlink_to(elsewhere)
    (cache / "linked-root").symlink_to(elsewhere)
    refs = repo_dir(cache, "acme/tiny") / "refs"
    os.chmod(refs, 0o755)
    (refs / "v2").symlink_to(refs / "main")
    found = kinds(cache)
    assert {("link", "hub/models--acme--linked"), ("link", "linked-root"),
            ("link", "hub/models--acme--tiny/refs/v2")} <= set(found)
    assert ("MG-H109", "linked-root") in {(s.finding(Layout(cache)).rule, s.rel(Layout(cache)))
                                          for s in inventory(Layout(cache))}


def test_prune_dry_run_changes_nothing_and_prune_keeps_the_admitted(cache: Path, capsys) -> None:
    plant(cache, "acme/planted", OTHER_COMMIT, {"a.json": b"{}"})
    (cache / "quarantine" / "left-over").mkdir()
    before = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*"))
    dry = api.prune(cache, dry_run=True)
    assert dry.dry_run and [s.kind for s in dry.removed] == ["repo"]
    assert sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*")) == before
    done = api.prune(cache)
    assert [s.kind for s in done.removed] == ["repo"] and not repo_dir(cache, "acme/planted").exists()
    assert not list((cache / "quarantine").iterdir())  # quarantine leftovers of crashed runs go too
    assert kinds(cache) == [] and record_path(cache, "acme/tiny", COMMIT).exists()
    log = [json.loads(line) for line in (cache / "audit.log").read_text().splitlines()]
    assert [(r["command"], r["removes"]) for r in log] == [("prune", ["repo:hub/models--acme--planted"])]
    assert run(["prune", "--cache-dir", str(cache)]) == 0
    assert "nothing to prune" in capsys.readouterr().out
    assert [r["command"] for r in map(json.loads, (cache / "audit.log").read_text().splitlines())] == ["prune"]


def test_prune_of_a_cache_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    assert run(["prune", "--cache-dir", str(tmp_path / "typo")]) == 2
    assert not (tmp_path / "typo").exists()


def test_transformers_cache_version_marker_is_not_a_stray_but_anything_else_named_so_is(cache: Path) -> None:
    os.chmod(cache / "hub", 0o755)
    (cache / "hub" / "version.txt").write_text("1")
    assert kinds(cache) == []
    (cache / "hub" / "version.txt").write_text("#!/bin/sh\nrm -rf /\n")
    assert kinds(cache) == [("file", "hub/version.txt")]
