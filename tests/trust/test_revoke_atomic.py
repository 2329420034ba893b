"""``revoke`` is one action: the policy edit, the eviction and the audit line happen together or not at all,
and it works on the manifests people really have (tables out of order, comments)."""

from __future__ import annotations

import json
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from modelguard import api
from modelguard.cli import run
from modelguard.errors import ExitCode, RevokedError, UnreadableError
from modelguard.spec.manifest import load_manifest
from tests.api_helpers import Project, make_project
from tests.fakehub import FakeHub
from tests.trust_keys import new_key, write_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fetched(tmp_path: Path, fake_hub: FakeHub) -> Project:
    project = make_project(tmp_path, fake_hub)
    project.lock()
    project.fetch()
    return project


def audit(project: Project) -> list[tuple[str, str, str]]:
    lines = [json.loads(line) for line in (project.cache / "audit.log").read_text().splitlines()]
    return [(r["command"], r.get("action", ""), r.get("outcome", "")) for r in lines if r["command"] == "revoke"]


def test_revoke_works_when_signers_were_appended_after_the_models(fetched: Project, tmp_path: Path,
                                                                   capsys) -> None:
    """Exactly what `modelguard sign --show-public >> modelguard.toml` leaves: [[policy.signers]] at the end."""
    key = write_key(tmp_path, new_key("ed25519"))
    assert run(["sign", "--show-public", "--key", str(key)]) == 0
    entry = capsys.readouterr().out
    original = fetched.manifest.read_text() + "\n# the release key, added by the security team\n" + entry
    fetched.manifest.write_text(original)
    commit = fetched.commits["acme/tiny"]
    code = run(["revoke", f"acme/tiny@{commit}", "--reason", "INC-9: backdoor", "--manifest", str(fetched.manifest),
                "--cache-dir", str(fetched.cache)])
    out = capsys.readouterr()
    assert code == 0, out.err
    text = fetched.manifest.read_text()
    assert text.startswith(original.split("[[hf-model]]")[0])  # the user's [policy] lines as they were
    assert "# the release key, added by the security team" in text and entry.strip() in text
    policy = load_manifest(str(fetched.manifest)).policy
    assert [r.target for r in policy.revoked] == [f"acme/tiny@{commit}"] and len(policy.signers) == 1
    assert "\n\n[[hf-model]]" in text  # the entry does not run into the next table
    assert not fetched.snapshot_dir("acme/tiny").exists()
    with pytest.raises(RevokedError):
        api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache)
    assert audit(fetched) == [("revoke", "revoke", ""), ("revoke", "evict", "")]


def _limited(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE semantics are Linux's")
def test_a_policy_that_cannot_be_written_evicts_nothing(fetched: Project) -> None:
    padding = "".join(f"# reviewed line {i:05d}: nothing to see\n" for i in range(600))  # a long, commented manifest
    fetched.manifest.write_text(padding + fetched.manifest.read_text())
    original = fetched.manifest.read_bytes()
    assert (fetched.cache / "audit.log").stat().st_size + 2000 < len(original)
    proc = subprocess.run([sys.executable, "-m", "modelguard", "revoke", f"acme/tiny@{fetched.commits['acme/tiny']}",
                           "--reason", "INC-10", "--manifest", str(fetched.manifest), "--cache-dir",
                           str(fetched.cache)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: _limited(len(original) + 10))  # the edit cannot be written
    assert proc.returncode == ExitCode.NO_VERDICT, proc.stderr
    assert "nothing was changed" in proc.stderr and proc.stderr.count("\n") == 1
    assert fetched.manifest.read_bytes() == original
    assert api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache) == fetched.snapshot_dir(
        "acme/tiny")
    assert audit(fetched) == [("revoke", "revoke", ""), ("revoke", "revoke", "aborted")]


def test_an_eviction_that_cannot_happen_puts_the_policy_back(fetched: Project) -> None:
    other_fs = Path(tempfile.mkdtemp(dir="/dev/shm")) if Path("/dev/shm").is_dir() else None
    if other_fs is None or other_fs.stat().st_dev == fetched.cache.stat().st_dev:
        pytest.skip("needs a second filesystem (/dev/shm) to make a rename fail")
    quarantine = fetched.cache / "quarantine"
    try:
        shutil.rmtree(quarantine)
        quarantine.symlink_to(other_fs)  # set-aside folders land on another filesystem: rename fails (EXDEV)
        original = fetched.manifest.read_bytes()
        with pytest.raises(UnreadableError, match="nothing was changed"):
            api.revoke(f"acme/tiny@{fetched.commits['acme/tiny']}", "INC-11", manifest=fetched.manifest,
                       cache_dir=fetched.cache)
        assert fetched.manifest.read_bytes() == original
        assert audit(fetched) == [("revoke", "revoke", ""), ("revoke", "revoke", "aborted")]
    finally:
        quarantine.unlink()
        quarantine.mkdir()
        shutil.rmtree(other_fs)
    assert api.snapshot("tiny", lockfile=fetched.lockfile, cache_dir=fetched.cache) == fetched.snapshot_dir(
        "acme/tiny")
    assert run(["verify", "--lockfile", str(fetched.lockfile), "--cache-dir", str(fetched.cache)]) == \
        ExitCode.REJECTED  # evil was never admitted; tiny is intact again
