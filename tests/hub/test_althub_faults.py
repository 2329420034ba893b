"""althub's own fault injection against lock, fetch and verify --remote (CLI, real huggingface_hub client).

Each case asserts the exit code, the rule where the command reports one, and that nothing bad was
admitted (the verified cache holds nothing for the model) and no lockfile with the lie was written.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from modelguard.errors import ExitCode
from tests.althub import AltHub, sha256
from tests.althub_project import FILES, Project, rules

REPO = "acme/bert"
WEIGHTS, CONFIG = "model.safetensors", "config.json"


@pytest.fixture
def locked(althub: AltHub, tmp_path: Path) -> Project:
    """A project whose lock was written against an honest althub; faults start afterwards."""
    althub.add(REPO, FILES)
    project = Project(althub, tmp_path)
    project.write(("bert", REPO, "main"))
    assert project.lock() == ExitCode.OK
    return project


def within(seconds: float, call: Any) -> Any:
    """Run ``call`` in a thread; fail (instead of hanging the suite) if it takes longer than ``seconds``."""
    box: list[Any] = []
    worker = threading.Thread(target=lambda: box.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    return box[0]


# --- fetch: the bytes ----------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "path", "value", "rule"), [
    ("tamper", WEIGHTS, None, "MG-H001|MG-H003"),      # same size, one byte flipped on the CDN
    ("tamper", CONFIG, None, "MG-H001|MG-H003"),       # ... and on the Hub's resolve-cache
    ("foreign", WEIGHTS, None, "MG-H001|MG-H003"),     # LFS redirected to another host serving zeros
    ("head-hash", WEIGHTS, None, "MG-H003"),           # X-Linked-Etag lies, bytes and lock agree
    ("head-hash", CONFIG, None, "MG-H003"),            # ETag lies about a git file
    ("head-size", WEIGHTS, None, "MG-H002"),           # X-Linked-Size lies
    ("head-size", CONFIG, None, "MG-H002"),            # Content-Length of the HEAD lies
    ("length", WEIGHTS, -1, "MG-H002"),                # GET Content-Length one short, body one short
    ("length", CONFIG, 100, "MG-H002"),                # GET Content-Length differs from the HEAD's size
    ("truncate", WEIGHTS, None, "MG-H008"),            # the body stops half-way, every time
    ("truncate", CONFIG, None, "MG-H008"),
    ("bad-gzip", WEIGHTS, None, "MG-H004|MG-H008"),    # Content-Encoding: gzip on bytes that are not
    ("bad-gzip", CONFIG, None, "MG-H004|MG-H008"),
    ("overflow", WEIGHTS, None, "MG-H002"),            # no Content-Length, body runs past the size
    ("cdn-loop", WEIGHTS, None, "MG-H009"),            # the CDN redirects to itself
    ("hub-loop", CONFIG, None, "MG-H009"),             # resolve 307s to itself
    ("git-foreign", CONFIG, None, "MG-H009"),          # a git file 307ed off the Hub
    ("head-commit", CONFIG, "0" * 40, "MG-H005"),      # X-Repo-Commit names another commit
    ("head-commit", WEIGHTS, "../../x", "MG-H004"),    # ... or a path
    ("head-etag", WEIGHTS, "../../evil", "MG-H004"),   # an ETag that would be a file name outside the cache
    ("head-etag", CONFIG, "W/\"deadbeef\"", "MG-H004"),
])
def test_fetch_fault_is_refused_and_nothing_is_admitted(
    althub: AltHub, locked: Project, kind: str, path: str, value: object, rule: str
) -> None:
    althub.fault(kind, repo=REPO, path=path, value=value)
    code, report = within(120, locked.fetch)
    assert code == ExitCode.REJECTED, report
    assert rules(report) & set(rule.split("|")), report
    assert locked.admitted() == [] and locked.quarantine_empty()


@pytest.mark.parametrize(("kind", "path", "value"), [
    ("drip", WEIGHTS, 0.1),           # a slow body that still arrives whole
    ("gzip-body", CONFIG, None),      # a proxy gzips a git file (weak ETag on the GET)
    ("weak-etag", CONFIG, None),      # W/"<blob id>" on the HEAD
    ("weak-etag", WEIGHTS, None),     # W/"<sha256>" in X-Linked-Etag
    ("gzip-json", None, None),        # gzip-encoded API answers
    ("chunked", WEIGHTS, None),       # no Content-Length on the CDN's answer
    ("chunked", CONFIG, None),        # ... nor on the Hub's
    ("direct", None, None),           # a simpler Hub: 200 at resolve for every file, no redirect, no CDN
])
def test_fetch_through_harmless_differences(althub: AltHub, locked: Project, kind: str, path: str | None,
                                            value: object) -> None:
    althub.fault(kind, repo=REPO, path=path, value=value)
    code, report = within(120, locked.fetch)
    assert code == ExitCode.OK, report
    assert len([p for p in locked.admitted() if "/snapshots/" in p]) == len(FILES)


def test_5xx_with_retry_after_then_success(althub: AltHub, locked: Project) -> None:
    althub.fault("status", repo=REPO, times=2, value=(503, 1))
    code, report = within(120, locked.fetch)
    assert code == ExitCode.OK, report


def test_5xx_forever_is_no_verdict(althub: AltHub, locked: Project) -> None:
    althub.fault("status", repo=REPO, value=(502, 1))
    code, report = within(120, locked.fetch)
    assert code == ExitCode.NO_VERDICT, report
    assert locked.admitted() == [] and locked.quarantine_empty()


def test_429_asking_for_an_hour_does_not_hang_lock(althub: AltHub, tmp_path: Path) -> None:
    althub.add(REPO, FILES)
    project = Project(althub, tmp_path)
    project.write(("bert", REPO, "main"))
    althub.fault("status", repo=REPO, value=(429, 3600))
    assert within(60, project.lock) == ExitCode.NO_VERDICT
    assert not project.lockfile.exists()


# --- lock: the metadata --------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "path", "value", "code"), [
    ("meta-hash", CONFIG, None, ExitCode.REJECTED),          # git blob id lies: the download shows it
    ("meta-size", CONFIG, None, ExitCode.REJECTED),
    ("meta-path", CONFIG, "../evil.json", ExitCode.REJECTED),
    ("meta-path", CONFIG, "a\\b.json", ExitCode.REJECTED),
    ("meta-oid", CONFIG, "../../" + "a" * 34, ExitCode.REJECTED),
    ("info-sha", None, "../../x", ExitCode.REJECTED),
    ("info-sha", None, "A" * 40, ExitCode.REJECTED),
    ("head-etag", CONFIG, "../../evil", ExitCode.REJECTED),
])
def test_lock_refuses_hostile_metadata(althub: AltHub, tmp_path: Path, kind: str, path: str | None,
                                       value: object, code: int) -> None:
    althub.add(REPO, FILES)
    project = Project(althub, tmp_path)
    project.write(("bert", REPO, "main"))
    althub.fault(kind, repo=REPO, path=path, value=value)
    assert within(60, project.lock) == code
    assert not project.lockfile.exists()
    assert not (tmp_path.parent / "evil.json").exists()


@pytest.mark.parametrize(("kind", "rule"), [
    ("meta-hash", "MG-H001|MG-H003"),   # the file list's LFS SHA-256 lies, the headers and bytes do not
    ("meta-size", "MG-H002|MG-H001"),
])
def test_lfs_listing_lie_is_locked_without_requests_but_never_admitted(
    althub: AltHub, tmp_path: Path, kind: str, rule: str
) -> None:
    """lock pins LFS files from the listing alone (no request per file); fetch then refuses the bytes."""
    althub.add(REPO, FILES)
    project = Project(althub, tmp_path)
    project.write(("bert", REPO, "main"))
    althub.fault(kind, repo=REPO, path=WEIGHTS)
    assert within(60, project.lock) == ExitCode.OK
    code, report = within(120, project.fetch)
    assert code == ExitCode.REJECTED, report
    assert rules(report) & set(rule.split("|")), report
    assert project.admitted() == [] and project.quarantine_empty()


@pytest.mark.parametrize(("kind", "value"), [
    ("raw-json", b"[" * 100_000 + b"]" * 100_000),   # nesting deeper than any parser's stack
    ("raw-json", b"\xff\xfe{}"),                       # not UTF-8
    ("raw-json", b"<html>Service Unavailable</html>"),  # a proxy's page with HTTP 200
    ("bad-gzip", None),                                 # Content-Encoding: gzip on plain JSON
])
def test_lock_refuses_undecodable_api_answers(althub: AltHub, tmp_path: Path, kind: str, value: object) -> None:
    althub.add(REPO, FILES)
    project = Project(althub, tmp_path)
    project.write(("bert", REPO, "main"))
    althub.fault(kind, repo=REPO, value=value)
    assert within(60, project.lock) in (ExitCode.REJECTED, ExitCode.NO_VERDICT)
    assert not project.lockfile.exists()


def test_lock_answer_for_another_commit_is_refused(althub: AltHub, tmp_path: Path) -> None:
    commit = althub.add(REPO, FILES)
    project = Project(althub, tmp_path)
    project.write(("bert", REPO, commit))
    althub.fault("info-sha", repo=REPO, value="1" * 40)
    assert project.lock() == ExitCode.REJECTED
    assert not project.lockfile.exists()


def test_lock_without_siblings_in_model_info_still_lists_the_tree(althub: AltHub, tmp_path: Path) -> None:
    althub.add(REPO, FILES)
    project = Project(althub, tmp_path)
    project.write(("bert", REPO, "main"))
    althub.fault("info-no-siblings", repo=REPO)
    assert project.lock() == ExitCode.OK
    assert {f.path for f in project.locked("bert").files} == set(FILES)


@pytest.mark.parametrize("kind", ["link-host", "link-loop"])
def test_tree_pagination_faults(tmp_path: Path, kind: str) -> None:
    with AltHub(page_size=2) as hub:
        hub.add(REPO, FILES)
        project = Project(hub, tmp_path)
        project.write(("bert", REPO, "main"))
        hub.fault(kind, repo=REPO)
        assert within(60, project.lock) == ExitCode.REJECTED
        assert not project.lockfile.exists()
        assert hub.requests("elsewhere") == []


def test_small_pages_are_all_followed(tmp_path: Path) -> None:
    with AltHub(page_size=2) as hub:
        hub.add(REPO, FILES)
        project = Project(hub, tmp_path)
        project.write(("bert", REPO, "main"))
        assert project.lock() == ExitCode.OK
        assert {f.path: f.sha256 for f in project.locked("bert").files} == {p: sha256(b) for p, b in FILES.items()}


# --- access ----------------------------------------------------------------------------------------


def test_gated_repo_needs_access_and_the_token_stays_on_the_hub(althub: AltHub, tmp_path: Path) -> None:
    althub.add(REPO, FILES, gated=True, readers=("hf_reader_0123456789",))
    project = Project(althub, tmp_path)
    project.write(("bert", REPO, "main"))
    assert project.lock() == ExitCode.NO_VERDICT  # 401 GatedRepo on the first git file
    project.token = "hf_reader_0123456789"
    assert project.lock() == ExitCode.OK
    assert "hf_reader" not in project.lockfile.read_text()
    code, report = project.fetch()
    assert code == ExitCode.OK, report
    assert not any(auth for *_, auth in althub.requests("cdn"))


@pytest.mark.parametrize(("token", "code"), [(None, ExitCode.NO_VERDICT), ("hf_reader_0123456789", ExitCode.USAGE)])
def test_missing_repo(althub: AltHub, tmp_path: Path, token: str | None, code: int) -> None:
    """The Hub answers 401 RepoNotFound without a token (missing and private look alike), 404 with one."""
    althub.add("acme/other", {"a.txt": b"a"}, readers=("hf_reader_0123456789",))
    project = Project(althub, tmp_path, token)
    project.write(("bert", "acme/missing", "main"))
    assert project.lock() == code


def test_missing_revision_is_a_usage_error(althub: AltHub, tmp_path: Path) -> None:
    althub.add(REPO, FILES)
    project = Project(althub, tmp_path)
    project.write(("bert", REPO, "no-such-branch"))
    assert project.lock() == ExitCode.USAGE


# --- verify --remote -----------------------------------------------------------------------------


def test_verify_remote_sees_a_force_push_and_a_changed_hash(althub: AltHub, locked: Project) -> None:
    assert locked.fetch()[0] == ExitCode.OK
    assert locked.verify("--remote")[0] == ExitCode.OK
    althub.fault("meta-hash", repo=REPO, path=WEIGHTS)
    code, report = locked.verify("--remote")
    assert code == ExitCode.REJECTED and "MG-H003" in rules(report), report
    old = locked.locked("bert").commit
    del althub.repos[REPO].commits[old]
    althub.repos[REPO].push({"config.json": b"{}"})
    code, report = locked.verify("--remote")
    assert code == ExitCode.REJECTED and "MG-H005" in rules(report), report


def test_429_with_a_short_retry_after_is_waited_out(althub: AltHub, tmp_path: Path) -> None:
    althub.add(REPO, FILES)
    project = Project(althub, tmp_path)
    project.write(("bert", REPO, "main"))
    althub.fault("status", repo=REPO, times=2, value=(429, 1))
    assert within(60, project.lock) == ExitCode.OK
    assert project.locked("bert").files


def test_mirror_passing_the_hubs_own_next_links_through(tmp_path: Path) -> None:
    """A mirror that relays huggingface.co's absolute Links: the pages are asked of the mirror, not the Hub."""
    with AltHub(page_size=2) as hub:
        hub.add(REPO, FILES)
        project = Project(hub, tmp_path)
        project.write(("bert", REPO, "main"))
        hub.fault("link-host", repo=REPO, value="https://huggingface.co")
        assert project.lock() == ExitCode.OK
        assert {f.path for f in project.locked("bert").files} == set(FILES)


def test_an_invalid_token_is_refused_with_exit_3_and_never_printed(
    althub: AltHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    althub.add(REPO, FILES)
    project = Project(althub, tmp_path, token="hf_NotARealToken0123456789")
    project.write(("bert", REPO, "main"))
    assert project.lock() == ExitCode.NO_VERDICT
    out = capsys.readouterr()
    assert "hf_NotARealToken" not in out.out + out.err
    assert "rejected the token as invalid" in out.err


def test_xet_left_enabled_by_the_user_changes_nothing(althub: AltHub, tmp_path: Path) -> None:
    """modelguard downloads over plain HTTP itself; a user's HF_HUB_DISABLE_XET=0 must not matter."""
    import os
    import subprocess
    import sys

    althub.add(REPO, FILES)
    project = Project(althub, tmp_path)
    project.write(("bert", REPO, "main"))
    env = {**os.environ, "HF_HUB_DISABLE_XET": "0", "HF_HUB_DISABLE_TELEMETRY": "1"}
    for args in (["lock", "--manifest", str(project.manifest)],
                 ["fetch", "--lockfile", str(project.lockfile), "--cache-dir", str(project.cache)]):
        done = subprocess.run([sys.executable, "-m", "modelguard", "--endpoint", althub.endpoint, *args], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
    assert not any("/v1/reconstructions/" in p or "xet-read-token" in p for _, _, p, _ in althub.requests())
    assert len([p for p in project.admitted() if "/snapshots/" in p]) == len(FILES)


def test_downloads_wait_out_a_rate_limit_the_hub_announces(althub: AltHub, locked: Project) -> None:
    """429 with Retry-After on the resolve route for 9 s: longer than the client's own backoff (7.5 s)."""
    import time

    althub.fault("rate-window", repo=REPO, path=WEIGHTS, value=time.monotonic() + 9)
    code, report = within(120, locked.fetch)
    assert code == ExitCode.OK, report
    heads = [p for _, method, p, _ in althub.requests("hub") if method == "HEAD" and p.endswith(WEIGHTS)]
    assert len(heads) >= 2  # refused at first, admitted after the wait


def test_downloads_refuse_to_wait_an_hour(althub: AltHub, locked: Project) -> None:
    althub.fault("status", repo=REPO, path=WEIGHTS, value=(429, 3600))
    code, report = within(60, locked.fetch)
    assert code == ExitCode.NO_VERDICT, report
    assert locked.admitted() == [] and locked.quarantine_empty()


def test_model_info_naming_a_commit_the_hub_does_not_have_is_not_locked(althub: AltHub, tmp_path: Path) -> None:
    """The branch resolves to a commit whose tree the Hub then says does not exist (RevisionNotFound)."""
    althub.add(REPO, FILES)
    project = Project(althub, tmp_path)
    project.write(("bert", REPO, "main"))
    althub.fault("info-sha", repo=REPO, value="1" * 40)
    assert project.lock() != ExitCode.OK
    assert not project.lockfile.exists()


def test_lock_against_a_hub_that_serves_every_file_itself(althub: AltHub, tmp_path: Path) -> None:
    althub.add(REPO, FILES)
    project = Project(althub, tmp_path)
    project.write(("bert", REPO, "main"))
    althub.fault("direct", repo=REPO)
    assert project.lock() == ExitCode.OK
    assert {f.path: f.sha256 for f in project.locked("bert").files} == {p: sha256(b) for p, b in FILES.items()}
    assert althub.requests("cdn") == []
