"""Suppressions through the real fetch and verify paths: a reviewed finding stops failing the gate,
stays in the report marked suppressed, stops being suppressed when it expires, and never covers
integrity evidence."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from modelguard.cli import run
from tests.cache_helpers import publish, write_project
from tests.fakehub import FakeHub
from tests.scan import picklegen

# A pickle importing a class that is on no allowlist: MG-S102, suspicious (high) - a finding a
# team can review and accept for one repo, unlike code execution.
UNKNOWN_CLASS = picklegen.reduce_call("acme_training.checkpoint", "RunState", "epoch-3")
# Expiry is decided against "today": pinned, so the verdicts hold whatever day the suite runs.
TODAY = dt.date(2026, 11, 26)


@pytest.fixture(autouse=True)
def _pinned_day(today) -> None:
    today(TODAY.isoformat())


FILES = {"config.json": b'{"model_type": "x"}', "state.pkl": UNKNOWN_CLASS}


def _policy(expires: dt.date, rule: str = "MG-S102") -> str:
    return (
        'allowed-orgs = ["acme"]\n\n[[policy.suppress]]\n'
        f'rule = "{rule}"\nscope = "acme/tiny"\nreason = "reviewed by security, ticket SEC-12"\n'
        f'expires = "{expires.isoformat()}"\n'
    )


def _fetch(fake_hub: FakeHub, tmp_path: Path, policy: str, capsys) -> tuple[int, dict]:
    model = publish(fake_hub, "tiny", "acme/tiny", FILES)
    lock_path, _ = write_project(tmp_path, [model], policy)
    code = run(["--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock_path), "--cache-dir",
                str(tmp_path / "cache"), "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def _rules(doc: dict) -> dict[str, bool]:
    return {f["rule"]: bool(f.get("suppressed")) for f in doc["findings"]}


def test_without_suppression_unknown_import_is_refused(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    code, doc = _fetch(fake_hub, tmp_path, 'allowed-orgs = ["acme"]', capsys)
    assert code == 1
    assert _rules(doc).get("MG-S102") is False
    assert not (tmp_path / "cache" / "hub" / "models--acme--tiny").exists()


def test_suppressed_finding_is_admitted_and_reported(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    tomorrow = TODAY + dt.timedelta(days=1)
    code, doc = _fetch(fake_hub, tmp_path, _policy(tomorrow), capsys)
    assert code == 0, doc
    assert _rules(doc).get("MG-S102") is True
    assert (tmp_path / "cache" / "hub" / "models--acme--tiny" / "snapshots").is_dir()
    # verify applies the same suppression, live, and still lists the finding.
    lock = str(tmp_path / "modelguard.lock")
    assert run(["verify", "--lockfile", lock, "--cache-dir", str(tmp_path / "cache"), "--format", "json"]) == 0
    vdoc = json.loads(capsys.readouterr().out)
    assert _rules(vdoc).get("MG-S102") is True


def test_expired_suppression_fails_verify_with_mg_p900(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    tomorrow = TODAY + dt.timedelta(days=1)
    assert _fetch(fake_hub, tmp_path, _policy(tomorrow), capsys)[0] == 0
    # The suppression expires: the same manifest edited to yesterday (policy edits do not stale the lock).
    manifest = tmp_path / "modelguard.toml"
    yesterday = TODAY - dt.timedelta(days=1)
    manifest.write_text(manifest.read_text().replace(tomorrow.isoformat(), yesterday.isoformat()))
    lock = str(tmp_path / "modelguard.lock")
    assert run(["verify", "--lockfile", lock, "--cache-dir", str(tmp_path / "cache"), "--format", "json"]) == 1
    rules = _rules(json.loads(capsys.readouterr().out))
    assert rules.get("MG-S102") is False and "MG-P900" in rules


def test_integrity_findings_are_never_suppressed(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    tomorrow = TODAY + dt.timedelta(days=1)
    policy = _policy(tomorrow) + _policy(tomorrow, rule="MG-H001").split("\n\n", 1)[1]
    assert _fetch(fake_hub, tmp_path, policy, capsys)[0] == 0
    blob = next((tmp_path / "cache" / "hub" / "models--acme--tiny" / "snapshots").rglob("config.json"))
    real = blob.resolve()
    real.chmod(0o644)
    real.write_bytes(b'{"model_type": "y"}')  # same size, other bytes: edited after admission
    lock = str(tmp_path / "modelguard.lock")
    assert run(["verify", "--lockfile", lock, "--cache-dir", str(tmp_path / "cache"), "--format", "json"]) == 1
    rules = _rules(json.loads(capsys.readouterr().out))
    assert rules.get("MG-H001") is False
