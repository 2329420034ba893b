"""modelguard.hub.client against the loopback fake Hub, through the real huggingface_hub client.

Happy paths: resolve (branch, tag, commit, pagination) and download (git files via the resolve
cache, LFS files via the CDN). Faults and hostile answers are in tests/hub/test_fakehub_faults.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelguard.errors import AccessDeniedError, IntegrityError, NotFoundError, UsageError
from modelguard.hub import client as hub
from modelguard.spec.types import LockedFile, LockedHFModel
from modelguard.store.digest import Digests, git_blob_sha1, sha256_bytes
from tests.fakehub import FakeHub, Fault

ROOT = Path(__file__).resolve().parents[2]

REPO = "acme/tiny"
CONFIG = b'{"model_type": "bert"}'
WEIGHTS = bytes(range(256)) * 20  # 5,120 bytes: LFS at the fake's 1,024-byte threshold
FILES = {"config.json": CONFIG, "model.safetensors": WEIGHTS, "tokenizer/vocab.txt": b"[PAD]\n[UNK]\n"}


def client(fake: FakeHub, token: str | None = None) -> hub.HubClient:
    return hub.HubClient(fake.endpoint, token, timeout=5, retries=2, retry_wait=0.01)


def test_branch_resolves_to_the_commit_the_hub_confirms(fake_hub: FakeHub) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    snap = hub.resolve(client(fake_hub), REPO, "main")
    assert snap.commit == commit
    assert [f.path for f in snap.files] == sorted(FILES)
    weights = next(f for f in snap.files if f.path == "model.safetensors")
    assert weights.lfs_sha256 == sha256_bytes(WEIGHTS) and weights.size == len(WEIGHTS)
    config = next(f for f in snap.files if f.path == "config.json")
    assert config.lfs_sha256 is None and config.blob_id == git_blob_sha1(CONFIG)


def test_tag_and_moved_branch(fake_hub: FakeHub) -> None:
    first = fake_hub.add_repo(REPO, FILES, tags=["v1"])
    second = fake_hub.push(REPO, {**FILES, "config.json": b"{}"})
    assert second != first
    assert hub.resolve(client(fake_hub), REPO, "v1").commit == first
    assert hub.resolve(client(fake_hub), REPO, "main").commit == second


def test_commit_resolves_to_itself_and_is_asked_for(fake_hub: FakeHub) -> None:
    first = fake_hub.add_repo(REPO, FILES)
    fake_hub.push(REPO, {"other.txt": b"x"})
    fake_hub.clear_requests()
    snap = hub.resolve(client(fake_hub), REPO, first)
    assert snap.commit == first and [f.path for f in snap.files] == sorted(FILES)
    assert any(f"/revision/{first}" in r.path for r in fake_hub.requests)


def test_unknown_commit_given_as_40_hex_fails(fake_hub: FakeHub) -> None:
    fake_hub.add_repo(REPO, FILES)
    with pytest.raises(NotFoundError) as err:
        hub.resolve(client(fake_hub), REPO, "0" * 40)
    assert err.value.exit_code == 2


def test_missing_repo_and_revision_are_not_found(fake_hub: FakeHub) -> None:
    fake_hub.add_repo(REPO, FILES)
    with pytest.raises(NotFoundError):
        hub.resolve(client(fake_hub), "acme/nope", "main")
    with pytest.raises(NotFoundError):
        hub.resolve(client(fake_hub), REPO, "no-such-branch")


def test_pagination_over_more_than_a_thousand_files() -> None:
    files = {f"shard/{i:05d}.json": b"%d" % i for i in range(2500)}
    with FakeHub(page_size=1000) as fake:
        fake.add_repo(REPO, files)
        snap = hub.resolve(client(fake), REPO, "main")
        tree_pages = [r for r in fake.requests if "/tree/" in r.path]
    assert len(snap.files) == 2500 and len(tree_pages) == 3
    assert snap.files[-1].path == "shard/02499.json"


def test_five_thousand_files_resolve_in_one_paginated_listing() -> None:
    files = {f"d{i % 50}/f{i}.txt": b"%d" % i for i in range(5000)}
    with FakeHub(page_size=1000) as fake:
        fake.add_repo(REPO, files)
        started = time.perf_counter()
        snap = hub.resolve(client(fake), REPO, "main")
        elapsed = time.perf_counter() - started
        assert len(fake.requests) == 1 + 6  # model info + 6 tree pages (5,000 files + 50 folders)
    assert len(snap.files) == 5000
    print(f"resolve of a 5,000-file repo: {elapsed:.2f}s")


def test_download_git_and_lfs_files(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.add_repo(REPO, FILES)
    c = client(fake_hub)
    snap = hub.resolve(c, REPO, "main")
    for file in snap.files:
        dest = tmp_path / file.path
        got = hub.download(c, REPO, snap.commit, file.path, dest, expected_size=file.size)
        hub.check_published(file, got)
        assert dest.read_bytes() == FILES[file.path]
        assert got.sha256 == sha256_bytes(FILES[file.path])
        # the git blob SHA-1 is what the Hub publishes for git files; LFS files publish a SHA-256 only
        assert got.git_blob_sha1 == (None if file.lfs_sha256 else git_blob_sha1(FILES[file.path]))
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["config.json", "model.safetensors",
                                                                          "vocab.txt"]
    assert any(r.server == "cdn" for r in fake_hub.requests)


def test_download_of_missing_file_is_not_found_and_leaves_nothing(fake_hub: FakeHub, tmp_path: Path) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    with pytest.raises(NotFoundError):
        hub.download(client(fake_hub), REPO, commit, "nope.bin", tmp_path / "nope.bin")
    assert list(tmp_path.iterdir()) == []


def test_gated_repo_needs_a_token_with_access(fake_hub: FakeHub, tmp_path: Path) -> None:
    commit = fake_hub.add_repo(REPO, FILES, gated=True, tokens=["hf_goodtoken"])
    for token in (None, "hf_badtoken"):
        with pytest.raises(AccessDeniedError) as err:
            hub.download(client(fake_hub, token), REPO, commit, "config.json", tmp_path / "c.json")
        assert err.value.exit_code == 3
        assert "request access" in err.value.message and "HF_TOKEN" in err.value.message
    got = hub.download(client(fake_hub, "hf_goodtoken"), REPO, commit, "config.json", tmp_path / "c.json")
    assert got.sha256 == sha256_bytes(CONFIG)


def test_private_repo_without_token_is_access_denied(fake_hub: FakeHub) -> None:
    fake_hub.add_repo(REPO, FILES, private=True, tokens=["hf_goodtoken"])
    with pytest.raises(AccessDeniedError) as err:
        hub.resolve(client(fake_hub), REPO, "main")
    assert "hf auth login" in err.value.message
    assert hub.resolve(client(fake_hub, "hf_goodtoken"), REPO, "main").files


def test_authorization_goes_to_the_hub_and_never_to_the_cdn(fake_hub: FakeHub, tmp_path: Path) -> None:
    commit = fake_hub.add_repo(REPO, FILES, gated=True, tokens=["hf_goodtoken"])
    c = client(fake_hub, "hf_goodtoken")
    hub.download(c, REPO, commit, "model.safetensors", tmp_path / "m")
    cdn = [r for r in fake_hub.requests if r.server == "cdn"]
    assert cdn and not any(r.authorized for r in cdn)
    assert all(r.authorized for r in fake_hub.requests if r.server == "hub")


def test_check_locked_rules() -> None:
    got = Digests(3, sha256_bytes(b"abc"), git_blob_sha1(b"abc"))
    ok = LockedFile("a", 3, sha256_bytes(b"abc"), "git-blob-sha1", git_blob_sha1(b"abc"))
    hub.check_locked(ok, got)
    with pytest.raises(IntegrityError) as err:
        hub.check_locked(LockedFile("a", 4, ok.sha256, "git-blob-sha1"), got)
    assert err.value.rule == "MG-H002"
    with pytest.raises(IntegrityError) as err:
        hub.check_locked(LockedFile("a", 3, "0" * 64, "git-blob-sha1"), got)
    assert err.value.rule == "MG-H001"


def test_remote_status_of_an_unchanged_lock_is_clean(fake_hub: FakeHub) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    locked = LockedHFModel("m", REPO, "main", commit, (
        LockedFile("config.json", len(CONFIG), sha256_bytes(CONFIG), "git-blob-sha1", git_blob_sha1(CONFIG)),
        LockedFile("model.safetensors", len(WEIGHTS), sha256_bytes(WEIGHTS), "lfs-sha256"),
    ))
    assert hub.remote_file_status(client(fake_hub), locked) == []
    extra = hub.remote_file_status(client(fake_hub), locked, selected=lambda p: True)
    assert [(f.rule, f.path) for f in extra] == [("MG-H007", "tokenizer/vocab.txt")]


def test_make_client_reads_hf_endpoint_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/")
    monkeypatch.setenv("HF_TOKEN", "hf_fromenvironment")
    c = hub.make_client()
    assert c.endpoint == "http://127.0.0.1:9" and c.token == "hf_fromenvironment"
    assert hub.make_client("https://hub.example").endpoint == "https://hub.example"
    assert "hf_fromenvironment" not in repr(c) and "hf_fromenvironment" not in str(c)
    with pytest.raises(UsageError):
        hub.make_client("ftp://x")
    for bad in ("https://user:hf_pw@hub.example", "ftp://user:hf_pw@hub.example", "http://h:port", "hub.example"):
        with pytest.raises(UsageError) as err:
            hub.make_client(bad)
        assert "hf_pw" not in err.value.message


def test_bad_repo_ids_and_revisions_are_usage_errors(fake_hub: FakeHub) -> None:
    for repo in ("../x", "a/b/c", "a/..", "", "a b/c"):
        with pytest.raises(UsageError):
            hub.resolve(client(fake_hub), repo, "main")
    with pytest.raises(UsageError):
        hub.resolve(client(fake_hub), REPO, "main\n")
    assert fake_hub.requests == []


def test_importing_hub_does_not_import_huggingface_hub() -> None:
    code = "import sys, modelguard.hub.client; assert 'huggingface_hub' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


_WARM = """
import sys, threading
import modelguard.hub.warm as warm
package = ("modelguard.hub", "modelguard.errors")  # modelguard/__init__ imports its errors
mine = sorted(m for m in sys.modules if m.startswith("modelguard.") and m not in package)
assert mine == ["modelguard.hub.warm"], mine  # the standard library only: fetch starts it before the rest
assert "huggingface_hub" not in sys.modules
warm.warm_up()
warm.warm_up()
alive = [t for t in threading.enumerate() if t.name == "modelguard-warm-up"]
assert len(alive) == 1, alive  # once per process
alive[0].join(60)
from huggingface_hub.utils import get_session
assert "httpcore2" in sys.modules and get_session() is get_session()
"""


def test_the_warm_up_is_light_to_import_and_starts_once() -> None:
    """``fetch`` starts huggingface_hub's import and HTTP client before importing the rest of modelguard
    (issue 15: the first request waits for both), so its module must cost nothing to import."""
    proc = subprocess.run([sys.executable, "-c", _WARM], cwd=ROOT, capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if not k.startswith("HF_")})
    assert proc.returncode == 0, proc.stderr


_DISK_FULL = """
import resource, signal, sys
from pathlib import Path
from modelguard.hub import client as hub
from modelguard.errors import ModelguardError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))
endpoint, commit, dest = sys.argv[1:]
client = hub.HubClient(endpoint, None, retries=0)
try:
    hub.download(client, "acme/tiny", commit, "model.safetensors", Path(dest) / "model.safetensors")
except ModelguardError as exc:
    print(type(exc).__name__, int(exc.exit_code), exc.message)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE semantics are Linux-specific")
def test_disk_full_while_writing_is_no_verdict_and_leaves_nothing(fake_hub: FakeHub, tmp_path: Path) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    proc = subprocess.run([sys.executable, "-c", _DISK_FULL, fake_hub.endpoint, commit, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.startswith("UnreadableError 3 "), proc.stdout + proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_mirror_passing_the_hubs_own_pagination_links_stays_on_the_mirror() -> None:
    files = {f"f{i}.txt": b"%d" % i for i in range(7)}
    with FakeHub(page_size=3) as fake:
        fake.add_repo(REPO, files)
        fake.inject(Fault.FOREIGN_NEXT_LINK, repo=REPO, value="https://huggingface.co")
        snap = hub.resolve(client(fake), REPO, "main")
        assert len(snap.files) == 7
        assert all(r.server == "hub" for r in fake.requests)


def test_big_lfs_file_cut_mid_body_is_truncated(fake_hub: FakeHub, tmp_path: Path) -> None:
    big = bytes(range(256)) * (3 * 4096)  # 3 MiB: several chunks reach the disk before the cut
    commit = fake_hub.add_repo(REPO, {"model.safetensors": big})
    fake_hub.inject(Fault.TRUNCATE, repo=REPO, path="model.safetensors")
    with pytest.raises(IntegrityError) as err:
        hub.download(client(fake_hub), REPO, commit, "model.safetensors", tmp_path / "m", expected_size=len(big))
    assert err.value.rule == "MG-H008"
    assert list(tmp_path.iterdir()) == []
    # each attempt's background hashing thread was stopped, not left waiting for more chunks
    import threading
    assert not [t for t in threading.enumerate() if t.name == "modelguard-hash"]


def test_hub_without_the_tree_route_falls_back_to_the_model_info(fake_hub: FakeHub) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.NO_TREE_ROUTE, repo=REPO)
    snap = hub.resolve(client(fake_hub), REPO, "main")
    assert snap.commit == commit and [f.path for f in snap.files] == sorted(FILES)
    assert next(f for f in snap.files if f.path == "model.safetensors").lfs_sha256 == sha256_bytes(WEIGHTS)


def test_download_with_a_progress_bar(fake_hub: FakeHub, tmp_path: Path) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    got = hub.download(client(fake_hub), REPO, commit, "model.safetensors", tmp_path / "m", progress=True)
    assert got.sha256 == sha256_bytes(WEIGHTS)


def test_hf_hub_offline_is_respected_with_a_clear_line(fake_hub: FakeHub) -> None:
    fake_hub.add_repo(REPO, FILES)
    code = ("import sys; from modelguard.hub import client as hub; from modelguard.errors import HubUnreachableError\n"
            "try: hub.resolve(hub.HubClient(sys.argv[1], None, retries=0), 'acme/tiny', 'main')\n"
            "except HubUnreachableError as e: print(e)")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code, fake_hub.endpoint], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert "HF_HUB_OFFLINE is set" in proc.stdout, proc.stdout + proc.stderr
    assert fake_hub.requests == []


def test_a_git_file_served_as_an_lfs_file_is_refused(fake_hub: FakeHub, tmp_path: Path) -> None:
    """The ETag says LFS (a SHA-256, which the bytes match), the listing says git file: the git blob
    SHA-1 the listing publishes was never computed, so the download cannot be checked: MG-H003."""
    fake_hub.add_repo(REPO, FILES)
    c = client(fake_hub)
    snap = hub.resolve(c, REPO, "main")
    config = next(f for f in snap.files if f.path == "config.json")
    assert config.lfs_sha256 is None
    fake_hub.inject(Fault.BAD_ETAG, repo=REPO, path="config.json", value=sha256_bytes(FILES["config.json"]))
    got = hub.download(c, REPO, snap.commit, "config.json", tmp_path / "config.json", expected_size=config.size)
    assert got.git_blob_sha1 is None
    with pytest.raises(IntegrityError) as e:
        hub.check_published(config, got)
    assert e.value.rule == "MG-H003" and "served it as an LFS file" in str(e.value)
