"""Admitted content is read-only down to the folders: huggingface_hub pointed at the verified cache cannot add
to it, while modelguard (fetch, revoke, prune, re-attestation) opens what it changes and seals it again.

File permissions do not bind root, so these commands run through :func:`tests.cache_attacks.unprivileged`
(as root: without the permission override, exactly as a normal user who owns the cache). What root (or
anyone who defeats the permissions) writes is still found: by verify's inventory, and removed by prune.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.errors import ExitCode
from modelguard.store.cache import Layout
from modelguard.store.inventory import inventory
from tests.api_helpers import CLEAN, LFS, Project, make_project
from tests.cache_attacks import record_path, unprivileged
from tests.fakehub import FakeHub

ROOT = Path(__file__).resolve().parents[2]
DOWNLOAD = "from huggingface_hub import hf_hub_download as d; print(d('acme/unlocked', 'config.json'))"


@pytest.fixture
def project(tmp_path: Path, fake_hub: FakeHub) -> Project:
    made = make_project(tmp_path, fake_hub)
    made.lock()
    fake_hub.add_repo("acme/unlocked", CLEAN, lfs=LFS)
    return made


def hf_env(project: Project) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_HUB_CACHE=str(project.cache / "hub"), HF_ENDPOINT=project.hub.endpoint, HF_HUB_DISABLE_XET="1",
               HF_HOME=str(project.root / "hf-home"))
    return env


def modelguard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(unprivileged([sys.executable, "-m", "modelguard", *args]), cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_hf_tools_cannot_write_into_the_sealed_cache_and_modelguard_still_can(project: Project) -> None:
    cache = str(project.cache)
    fetched = modelguard("--endpoint", project.hub.endpoint, "fetch", "--lockfile", str(project.lockfile),
                         "--cache-dir", cache)
    assert fetched.returncode == ExitCode.REJECTED, fetched.stderr  # evil refused, the others admitted
    download = subprocess.run(unprivileged([sys.executable, "-c", DOWNLOAD]), capture_output=True, text=True,
                              timeout=120, env=hf_env(project))
    assert download.returncode != 0 and "Permission" in download.stderr, download.stdout + download.stderr
    assert inventory(Layout(project.cache)) == []  # nothing was added to the verified cache
    load = subprocess.run(unprivileged([sys.executable, "-c", "from huggingface_hub import snapshot_download as s; "
                                        "print(s('acme/tiny'))"]), capture_output=True, text=True, timeout=120,
                          env={**hf_env(project), "HF_HUB_OFFLINE": "1"})
    assert load.returncode == 0 and Path(load.stdout.strip()) == project.snapshot_dir("acme/tiny"), load.stderr

    # modelguard opens what it changes, and seals it again: a verify re-attests, a revoke evicts.
    record = record_path(project.cache, "acme/other", project.commits["acme/other"])
    doc = json.loads(record.read_text())
    for f in doc["files"]:
        f.pop("fingerprint")  # as an older modelguard wrote it: the next full check records fingerprints
    os.chmod(record, 0o644)
    record.write_text(json.dumps(doc))
    os.chmod(record, 0o444)
    verify = modelguard("verify", "--lockfile", str(project.lockfile), "--cache-dir", cache, "--format", "json")
    other = next(m for m in json.loads(verify.stdout)["models"] if m["name"] == "other")
    assert other["attested"] and all("fingerprint" in f for f in json.loads(record.read_text())["files"])
    revoked = modelguard("revoke", f"acme/other@{project.commits['acme/other']}", "--reason", "INC-12",
                         "--manifest", str(project.manifest), "--cache-dir", cache)
    assert revoked.returncode == 0, revoked.stderr
    assert not project.snapshot_dir("acme/other").exists()
    # What someone else wrote is pruned, and a tampered blob is re-fetched, by the same unprivileged user.
    stray = project.cache / "hub" / "models--acme--planted"
    (stray / "snapshots").mkdir(parents=True)
    os.chmod(stray, 0o555)
    blob = Path(os.path.realpath(project.snapshot_dir("acme/tiny") / "model.safetensors"))
    os.chmod(blob, 0o644)
    blob.write_bytes(b"x" + blob.read_bytes()[1:])
    os.chmod(blob, 0o444)
    assert modelguard("prune", "--cache-dir", cache).returncode == 0 and not stray.exists()
    repaired = modelguard("--endpoint", project.hub.endpoint, "fetch", "--lockfile", str(project.lockfile),
                          "--cache-dir", cache)
    assert repaired.returncode == ExitCode.REJECTED, repaired.stderr  # evil is still refused
    assert blob.read_bytes() == CLEAN["model.safetensors"] and inventory(Layout(project.cache)) == []
    assert oct((project.cache / "hub").stat().st_mode & 0o777) == "0o555"


def test_what_root_writes_anyway_is_found_and_pruned(project: Project, capsys) -> None:
    project.fetch()
    download = subprocess.run([sys.executable, "-c", DOWNLOAD], capture_output=True, text=True, timeout=120,
                              env=hf_env(project))
    assert download.returncode == 0, download.stderr  # root ignores read-only folders
    code = run(["verify", "--lockfile", str(project.lockfile), "--cache-dir", str(project.cache), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    stray = {f["location"] for f in doc["findings"] if f["rule"] == "MG-H110"}
    assert code == ExitCode.REJECTED and "hub/models--acme--unlocked" in stray and "hub/.locks" in stray
    assert run(["prune", "--cache-dir", str(project.cache)]) == 0
    assert inventory(Layout(project.cache)) == []
    log = [json.loads(line) for line in (project.cache / "audit.log").read_text().splitlines()]
    prune = next(r for r in log if r["command"] == "prune")
    assert "repo:hub/models--acme--unlocked" in prune["removes"]
