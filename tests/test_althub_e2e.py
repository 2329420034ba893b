"""lock, fetch and verify --remote through the CLI against althub, a Hub modelguard's authors did not
model their client on: the lock holds the real commit and the real SHA-256 of every file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelguard.errors import ExitCode
from tests.althub import AltHub, blob_sha1, sha256
from tests.althub_project import FILES, Project

REPO = "acme/bert"


@pytest.fixture
def althub() -> Iterator[AltHub]:
    with AltHub() as hub:
        yield hub


@pytest.fixture
def project(althub: AltHub, tmp_path: Path) -> Project:
    return Project(althub, tmp_path)


def test_lock_fetch_verify_pin_the_real_commit_and_hashes(althub: AltHub, project: Project) -> None:
    commit = althub.add(REPO, FILES)
    althub.repos[REPO].tags["v1.0/rc1"] = commit
    project.write(("bert", REPO, "main"), ("tagged", REPO, "v1.0/rc1"), ("pinned", REPO, commit))
    assert project.lock() == ExitCode.OK
    for name in ("bert", "tagged", "pinned"):
        model = project.locked(name)
        assert model.commit == commit
        assert {f.path: (f.size, f.sha256) for f in model.files} == {
            p: (len(b), sha256(b)) for p, b in FILES.items()}
        published = {f.path: (f.published, f.git_blob_sha1) for f in model.files}
        assert published["model.safetensors"] == ("lfs-sha256", None)
        assert published["config.json"] == ("git-blob-sha1", blob_sha1(FILES["config.json"]))
    # LFS content is pinned from metadata: no byte of it was downloaded to lock.
    assert althub.requests("cdn") == []
    code, report = project.fetch()
    assert code == ExitCode.OK, report
    assert any(p.endswith("snapshots/" + commit + "/model.safetensors") for p in project.admitted())
    blobs = project.cache / "hub" / "models--acme--bert" / "blobs"
    assert sorted(p.read_bytes() for p in blobs.iterdir()) == sorted(FILES.values())
    # The token never went to the CDN (it would refuse it), and Xet was never used.
    assert not any(auth for *_, auth in althub.requests("cdn"))
    assert not any("/v1/reconstructions/" in p or "xet-read-token" in p for _, _, p, _ in althub.requests())
    code, report = project.verify("--remote")
    assert code == ExitCode.OK, report
