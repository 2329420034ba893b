"""All or nothing: an admission, an eviction or a revocation either happens whole, on record, or not at all.

Failures are real, not simulated inside modelguard: a disk that fills up is ``RLIMIT_FSIZE`` on the
``modelguard`` process (as tests/hub/test_client.py does for downloads), a crash is ``kill -9`` at a
moment chosen by watching the cache, and an eviction that cannot move a folder is a quarantine on
another filesystem. After each, nothing a loader could read is un-admitted, and the next run repairs.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from modelguard import api
from modelguard.cli import run
from modelguard.demo import artifacts
from modelguard.errors import ExitCode, IntegrityError, NotAdmittedError
from modelguard.store.cache import Layout
from modelguard.store.inventory import inventory
from tests.cache_attacks import record_path, repo_dir
from tests.cache_helpers import publish, write_project
from tests.fakehub import FakeHub

ROOT = Path(__file__).resolve().parents[2]
FILES = {"config.json": artifacts.config("bert"), "model.safetensors": artifacts.safetensors({"w": (4, 4)})}
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE semantics are Linux's")


def project(hub: FakeHub, folder: Path, files: dict[str, bytes] = FILES, repo: str = "acme/tiny") -> Path:
    model = publish(hub, "tiny", repo, files, lfs=[p for p in files if p.endswith(".safetensors")])
    folder.mkdir()
    lock, _ = write_project(folder, [model], 'allowed-orgs = ["acme"]')
    return lock


def modelguard(*args: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    """``modelguard ARGS`` in a fresh process; ``limit``: no file it writes may grow past that many bytes."""
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, as a full disk gives ENOSPC, instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # type: ignore[arg-type]

    return subprocess.run([sys.executable, "-m", "modelguard", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, preexec_fn=limited if limit is not None else None)


def nothing_admitted(cache: Path, lock: Path) -> None:
    """No snapshot, ref, record or blob of the model, nothing stray, and no loader or snapshot() gets it."""
    assert not repo_dir(cache, "acme/tiny").exists(), sorted(p.name for p in repo_dir(cache, "acme/tiny").rglob("*"))
    assert not (cache / "admissions" / "models--acme--tiny").exists()
    assert inventory(Layout(cache)) == []
    with pytest.raises(NotAdmittedError):
        api.snapshot("tiny", lockfile=lock, cache_dir=cache)


def fetch_args(hub: FakeHub, lock: Path, cache: Path) -> list[str]:
    return ["--endpoint", hub.endpoint, "fetch", "--lockfile", str(lock), "--cache-dir", str(cache)]


@linux_only
def test_disk_full_while_admitting_leaves_nothing_and_exits_3(fake_hub: FakeHub, tmp_path: Path) -> None:
    lock = project(fake_hub, tmp_path / "proj")
    # Measure this model's record and audit line, then allow the audit line but not the record.
    measured = tmp_path / "measured"
    assert modelguard(*fetch_args(fake_hub, lock, measured)).returncode == 0
    commit = json.loads((measured / "audit.log").read_text().splitlines()[0])["commit"]
    record = record_path(measured, "acme/tiny", commit).stat().st_size
    intent = len((measured / "audit.log").read_text().splitlines()[0]) + 1
    assert intent < record and max(len(d) for d in FILES.values()) < intent
    cache = tmp_path / "cache"
    proc = modelguard(*fetch_args(fake_hub, lock, cache), limit=(intent + record) // 2)
    assert proc.returncode == ExitCode.NO_VERDICT, proc.stdout + proc.stderr
    # The intent was recorded, then the record could not be written: the admission was undone (and the
    # run's closing audit line could not be written either, which is what the command says).
    lines = [json.loads(line) for line in (cache / "audit.log").read_text().splitlines()]
    assert [(r["action"], r["outcome"]) for r in lines] == [("admit", "intent")]
    assert "audit log cannot be written" in proc.stderr
    nothing_admitted(cache, lock)
    loader = subprocess.run([sys.executable, "-c", "from huggingface_hub import hf_hub_download as d; "
                             "print(d('acme/tiny', 'config.json'))"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "HF_HUB_CACHE": str(cache / "hub"), "HF_HUB_OFFLINE": "1"})
    assert loader.returncode != 0
    # With space again, the next fetch admits it whole.
    assert modelguard(*fetch_args(fake_hub, lock, cache)).returncode == 0
    assert run(["verify", "--lockfile", str(lock), "--cache-dir", str(cache)]) == 0


@linux_only
def test_an_audit_log_that_cannot_grow_stops_the_admission_before_it_happens(fake_hub: FakeHub,
                                                                            tmp_path: Path) -> None:
    lock = project(fake_hub, tmp_path / "proj")
    cache = tmp_path / "cache"
    cache.mkdir()
    earlier = json.dumps({"command": "lock", "time": "2026-11-20T10:00:00Z", "v": 1}) + "\n"
    (cache / "audit.log").write_text(earlier * 40)  # the log already holds more than the disk will take
    limit = (cache / "audit.log").stat().st_size - 10
    proc = modelguard(*fetch_args(fake_hub, lock, cache), limit=limit)
    assert proc.returncode == ExitCode.NO_VERDICT, proc.stdout + proc.stderr
    assert "audit log cannot be written" in proc.stdout + proc.stderr
    nothing_admitted(cache, lock)


def _watch_and_kill(proc: subprocess.Popen[bytes], ready: Callable[[], bool]) -> bool:
    """kill -9 ``proc`` as soon as ``ready()``; False when it finished first."""
    deadline = time.monotonic() + 120
    while proc.poll() is None:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        assert time.monotonic() < deadline, "the fetch never reached the moment to kill it"
        time.sleep(0.0005)
    return False


def _many_files() -> dict[str, bytes]:
    # Many small files make the admission itself (blobs, links, the record) take a measurable moment.
    return {**FILES, **{f"tokenizer/part-{i:03d}.json": json.dumps({"i": i}).encode() for i in range(150)}}


@pytest.mark.parametrize("moment", ["quarantine", "building", "record", "snapshot"])
def test_kill_9_during_admission_never_leaves_a_loadable_unadmitted_snapshot(fake_hub: FakeHub, tmp_path: Path,
                                                                             moment: str) -> None:
    files = _many_files()
    lock = project(fake_hub, tmp_path / "proj", files)
    cache = tmp_path / "cache"
    commit = next(m.commit for m in api.check_lock(lock.parent / "modelguard.toml").hf_models)
    snapshots = repo_dir(cache, "acme/tiny") / "snapshots"
    ready = {
        "quarantine": lambda: any((cache / "quarantine").glob("*/*")),
        "building": lambda: snapshots.is_dir() and any(snapshots.glob(".building-*")),
        "record": lambda: record_path(cache, "acme/tiny", commit).exists(),
        "snapshot": lambda: (snapshots / commit).exists(),
    }[moment]
    proc = subprocess.Popen([sys.executable, "-m", "modelguard", *fetch_args(fake_hub, lock, cache)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert _watch_and_kill(proc, ready), f"the fetch finished before the {moment} moment"
    # Whatever moment it died at: a snapshot folder in place always has its record, a ref only names a
    # snapshot in place, and everything a loader could open is either admitted or reported.
    if (snapshots / commit).exists():
        assert record_path(cache, "acme/tiny", commit).exists()
    ref = repo_dir(cache, "acme/tiny") / "refs" / "main"
    if ref.exists():
        assert (snapshots / ref.read_text()).is_dir()
    verdict = run(["verify", "--lockfile", str(lock), "--cache-dir", str(cache)])
    assert verdict in (ExitCode.OK, ExitCode.REJECTED)
    if verdict == ExitCode.REJECTED:  # not handed out (not admitted yet, or its ref not written yet)
        with pytest.raises((NotAdmittedError, IntegrityError)):
            api.snapshot("tiny", lockfile=lock, cache_dir=cache)
    # The next fetch completes the admission, with no leftover anywhere.
    assert modelguard(*fetch_args(fake_hub, lock, cache)).returncode == 0
    assert run(["verify", "--lockfile", str(lock), "--cache-dir", str(cache)]) == ExitCode.OK
    assert inventory(Layout(cache)) == [] and not list((cache / "quarantine").iterdir())
