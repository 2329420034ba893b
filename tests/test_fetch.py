"""fetch: quarantine, verify, scan, apply the policy, admit — against the loopback fake Hub.

Every rejection test checks the rule, the exit code and that the verified cache holds nothing
for the refused model afterwards (and that quarantine is empty).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.errors import NothingToCheckError, StaleLockError
from modelguard.fetcher import fetch, fetch_exit_code, fetch_locked
from modelguard.models import Lockfile
from tests.cache_helpers import admit_local, allow_all, locked_model, write_project

FILES = {"weights.bin": b"tensor bytes " * 64, "config.txt": b"hidden=4\n"}


def no_network() -> object:
    raise AssertionError("fetch opened a Hub connection although nothing needed downloading")


def cache_tree(root: Path) -> list[str]:
    """Every path under hub/ and admissions/ (what a loader or verify could see)."""
    out = []
    for sub in ("hub", "admissions"):
        base = root / sub
        if base.exists():
            out += sorted(str(p.relative_to(root)) for p in base.rglob("*") if not p.is_dir() or p.is_symlink())
    return out


def quarantine_empty(root: Path) -> bool:
    q = root / "quarantine"
    return not q.exists() or not any(q.iterdir())


def test_already_admitted_and_intact_needs_no_network(tmp_path: Path) -> None:
    model = locked_model("tiny", "acme/tiny", FILES)
    policy = allow_all()
    admit_local(tmp_path, model, FILES, policy)
    before = cache_tree(tmp_path)
    lock = Lockfile(1, "modelguard 0.1.0", "0" * 64, hf_models=(model,))
    report = fetch_locked(lock, policy, cache_dir=tmp_path, client_factory=no_network)
    assert fetch_exit_code(report) == 0
    assert report.extra["models"][0]["status"] == "already-admitted"
    assert {r.path for r in report.files} == {"tiny:weights.bin", "tiny:config.txt"}
    assert cache_tree(tmp_path) == before and quarantine_empty(tmp_path)


def test_policy_change_rescans_admitted_files_without_network(tmp_path: Path) -> None:
    model = locked_model("tiny", "acme/tiny", FILES)
    admit_local(tmp_path, model, FILES, allow_all())
    lock = Lockfile(1, "modelguard 0.1.0", "0" * 64, hf_models=(model,))
    tighter = allow_all(max_file_size=100)
    report = fetch_locked(lock, tighter, cache_dir=tmp_path, client_factory=no_network)
    assert fetch_exit_code(report) == 1
    assert report.extra["models"][0]["status"] == "refused"
    assert "MG-P014" in {f.rule for f in report.all_findings()}
    assert cache_tree(tmp_path) == []  # the earlier admission no longer stands: evicted


def test_denied_org_is_refused_before_any_network(tmp_path: Path) -> None:
    model = locked_model("evil", "evil/tiny", FILES)
    lock = Lockfile(1, "modelguard 0.1.0", "0" * 64, hf_models=(model,))
    policy = allow_all(denied_orgs=("evil",))
    report = fetch_locked(lock, policy, cache_dir=tmp_path, client_factory=no_network)
    assert fetch_exit_code(report) == 1
    assert [f.rule for f in report.findings] == ["MG-P002"]
    assert report.extra["models"][0]["status"] == "refused"
    assert cache_tree(tmp_path) == [] and quarantine_empty(tmp_path)


def test_nothing_locked_is_no_verdict(tmp_path: Path, capsys) -> None:
    lock_path, _ = write_project(tmp_path, [])
    with pytest.raises(NothingToCheckError):
        fetch(lock_path, cache_dir=tmp_path / "cache")
    assert run(["fetch", "--lockfile", str(lock_path), "--cache-dir", str(tmp_path / "cache")]) == 3


def test_stale_lock_is_refused(tmp_path: Path, capsys) -> None:
    lock_path, _ = write_project(tmp_path, [locked_model("tiny", "acme/tiny", FILES)], stale=True)
    with pytest.raises(StaleLockError):
        fetch(lock_path, cache_dir=tmp_path / "cache")
    assert run(["fetch", "--lockfile", str(lock_path), "--cache-dir", str(tmp_path / "cache")]) == 1
    assert "run `modelguard lock`" in capsys.readouterr().err
    assert cache_tree(tmp_path / "cache") == []


def test_missing_lockfile_is_usage_error(tmp_path: Path, capsys) -> None:
    assert run(["fetch", "--lockfile", str(tmp_path / "modelguard.lock"), "--cache-dir", str(tmp_path)]) == 2


def test_cli_already_admitted_reports_json(tmp_path: Path, capsys) -> None:
    model = locked_model("tiny", "acme/tiny", FILES)
    lock_path, manifest = write_project(tmp_path, [model])
    admit_local(tmp_path / "cache", model, FILES, manifest.policy)
    code = run(["--endpoint", "http://127.0.0.1:9", "fetch", "--lockfile", str(lock_path),
                "--cache-dir", str(tmp_path / "cache"), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    assert doc["command"] == "fetch" and doc["models"][0]["status"] == "already-admitted"
    assert os.path.isdir(tmp_path / "cache" / "hub" / "models--acme--tiny")
