"""lock, fetch and verify --remote through the CLI against althub, a Hub modelguard's authors did not
model their client on: the lock holds the real commit and the real SHA-256 of every file."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelguard.errors import ExitCode
from tests.althub import AltHub, blob_sha1, sha256
from tests.althub_project import FILES, Project, rules

REPO = "acme/bert"


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


def test_names_the_hub_allows_round_trip(althub: AltHub, project: Project) -> None:
    """Spaces, '#', '?', '%', '+', non-ASCII and empty files are ordinary on the Hub."""
    files = {"dir with space/a b.txt": b"x", "hash#name.txt": b"#", "q?mark.txt": b"?", "100%.txt": b"%",
             "plus+sign.json": b"{}", "caf\u00e9/\u65e5\u672c.txt": "\u65e5".encode(), "empty.txt": b"",
             "nested/deep/er/weights.safetensors": FILES["model.safetensors"]}
    commit = althub.add(REPO, files)
    project.write(("odd", REPO, "main"))
    assert project.lock() == ExitCode.OK
    model = project.locked("odd")
    assert model.commit == commit
    assert {f.path: f.sha256 for f in model.files} == {p: sha256(b) for p, b in files.items()}
    code, report = project.fetch()
    assert code == ExitCode.OK, report
    assert project.verify("--remote")[0] == ExitCode.OK


def test_repo_moved_to_another_org_is_not_pinned_under_the_old_name(althub: AltHub, project: Project,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The Hub redirects a renamed/transferred repo's old URLs (307) to its new name; locking would
    otherwise pin another org's files under the allowed org's name."""
    althub.add("evil/bert", FILES)
    althub.moved[REPO] = "evil/bert"
    project.write(("bert", REPO, "main"))
    assert project.lock() == ExitCode.USAGE
    assert "redirects this repo to 'evil/bert'" in capsys.readouterr().err
    assert not project.lockfile.exists()


def test_verify_remote_reports_a_repo_moved_after_locking(althub: AltHub, project: Project) -> None:
    commit = althub.add(REPO, FILES)
    project.write(("bert", REPO, "main"))
    assert project.lock() == ExitCode.OK and project.fetch()[0] == ExitCode.OK
    althub.repos["evil/bert"] = althub.repos.pop(REPO)
    althub.moved[REPO] = "evil/bert"
    code, report = project.verify("--remote")
    assert code == ExitCode.REJECTED and "MG-H005" in rules(report), report
    assert althub.repos["evil/bert"].resolve("main") == commit
