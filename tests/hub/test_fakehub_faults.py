"""modelguard.hub.client against a misbehaving Hub: every injected fault gives its rule and exit code,
and nothing is written where it should not be. Real huggingface_hub client, loopback servers only.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelguard.errors import (
    AccessDeniedError,
    HubUnreachableError,
    IntegrityError,
    ModelguardError,
    NotFoundError,
)
from modelguard.hub import client as hub
from modelguard.spec.types import LockedFile, LockedHFModel
from modelguard.store.digest import Digests, git_blob_sha1, sha256_bytes
from tests.fakehub import FakeHub, Fault

REPO = "acme/tiny"
CONFIG = b'{"model_type": "bert"}'
WEIGHTS = bytes(range(256)) * 20  # LFS
FILES = {"config.json": CONFIG, "model.safetensors": WEIGHTS}
TOKEN = "hf_SeCrEtToKeN0123456789"


def client(fake: FakeHub, token: str | None = None, *, timeout: float = 5) -> hub.HubClient:
    return hub.HubClient(fake.endpoint, token, timeout=timeout, retries=2, retry_wait=0.01)


def fetch(fake: FakeHub, commit: str, path: str, dest_dir: Path, *, expected_size: int | None = None,
          expected_sha256: str | None = None) -> Digests:
    return hub.download(client(fake), REPO, commit, path, dest_dir / "out", expected_size=expected_size,
                        expected_sha256=expected_sha256)


def assert_nothing_written(folder: Path) -> None:
    assert list(folder.iterdir()) == [], "a rejected download left files behind"


# --- hostile metadata: resolve refuses the whole answer (MG-H004) ------------------------------


@pytest.mark.parametrize(("fault", "value", "path"), [
    (Fault.BAD_COMMIT, "../../x", None),
    (Fault.BAD_COMMIT, "A" * 40, None),
    (Fault.BAD_PATH, "../evil", "config.json"),
    (Fault.BAD_PATH, "/etc/passwd", "config.json"),
    (Fault.BAD_PATH, "a\\b.json", "config.json"),
    (Fault.BAD_PATH, "a\x00b.json", "config.json"),
    (Fault.BAD_PATH, "a//b.json", "config.json"),
    (Fault.BAD_PATH, "evil\u202enosj.py", "config.json"),  # displays as "evilyp.json"
    (Fault.BAD_PATH, "./a.json", "config.json"),
    (Fault.BAD_PATH, "Model.safetensors", "config.json"),  # collides with model.safetensors on macOS/Windows
    (Fault.DUPLICATE_PATH, None, "config.json"),
    (Fault.BAD_SHA256, None, "model.safetensors"),
    (Fault.BAD_SHA256, "ABCDEF" + "0" * 58, "model.safetensors"),
    (Fault.BAD_BLOB_ID, None, "config.json"),
    (Fault.BAD_SIZE, -1, "config.json"),
    (Fault.BAD_SIZE, "22", "config.json"),
    (Fault.BAD_SIZE, True, "config.json"),
    (Fault.BAD_SIZE, 2.5, "config.json"),
    (Fault.INCONSISTENT_INFO, None, "model.safetensors"),
])
def test_hostile_metadata_is_refused(fake_hub: FakeHub, fault: Fault, value: object, path: str | None) -> None:
    fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(fault, repo=REPO, path=path, value=value)
    with pytest.raises(IntegrityError) as err:
        hub.resolve(client(fake_hub), REPO, "main")
    # Two names one filesystem folds together have their own rule (MG-H138, issue 14).
    assert err.value.rule == ("MG-H138" if value == "Model.safetensors" else "MG-H004")
    assert err.value.exit_code == 1
    assert "\n" not in err.value.message and "\x00" not in err.value.message


def test_pagination_link_to_a_foreign_host_is_refused_before_it_is_followed() -> None:
    with FakeHub(page_size=2) as fake:
        fake.add_repo(REPO, {f"f{i}.txt": b"x" for i in range(5)}, gated=True, tokens=[TOKEN])
        fake.inject(Fault.FOREIGN_NEXT_LINK, repo=REPO)
        with pytest.raises(IntegrityError) as err:
            hub.resolve(client(fake, TOKEN), REPO, "main")
        assert err.value.rule == "MG-H004"
        assert not [r for r in fake.requests if r.server == "foreign"]


def test_hub_answering_for_another_commit_is_mg_h005(fake_hub: FakeHub) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.COMMIT_MISMATCH, repo=REPO)
    with pytest.raises(IntegrityError) as err:
        hub.resolve(client(fake_hub), REPO, commit)
    assert err.value.rule == "MG-H005"


# --- download faults ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["config.json", "model.safetensors"])
def test_tampered_bytes_fail_the_published_hash(fake_hub: FakeHub, tmp_path: Path, path: str) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.TAMPER, repo=REPO, path=path)
    with pytest.raises(IntegrityError) as err:
        fetch(fake_hub, commit, path, tmp_path)
    assert err.value.rule == "MG-H003"
    assert_nothing_written(tmp_path)


def test_tampered_bytes_against_the_lock_are_mg_h001(fake_hub: FakeHub, tmp_path: Path) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.TAMPER, repo=REPO, path="model.safetensors")
    with pytest.raises(IntegrityError) as err:
        fetch(fake_hub, commit, "model.safetensors", tmp_path, expected_size=len(WEIGHTS),
              expected_sha256=sha256_bytes(WEIGHTS))
    assert err.value.rule == "MG-H001"
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize("path", ["config.json", "model.safetensors"])
def test_published_hash_lie(fake_hub: FakeHub, tmp_path: Path, path: str) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.HASH_LIE, repo=REPO, path=path)
    listed = next(f for f in hub.resolve(client(fake_hub), REPO, "main").files if f.path == path)
    with pytest.raises(IntegrityError) as err:
        fetch(fake_hub, commit, path, tmp_path)
    assert err.value.rule == "MG-H003"
    assert_nothing_written(tmp_path)
    # and the listing's value, checked against honest bytes, fails the same way
    fake_hub.clear_faults()
    got = fetch(fake_hub, commit, path, tmp_path)
    with pytest.raises(IntegrityError) as err:
        hub.check_published(listed, got)
    assert err.value.rule == "MG-H003"


@pytest.mark.parametrize("path", ["config.json", "model.safetensors"])
def test_size_lie(fake_hub: FakeHub, tmp_path: Path, path: str) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.SIZE_LIE, repo=REPO, path=path)
    listed = next(f for f in hub.resolve(client(fake_hub), REPO, "main").files if f.path == path)
    assert listed.size == len(FILES[path]) + 1
    with pytest.raises(IntegrityError) as err:
        fetch(fake_hub, commit, path, tmp_path, expected_size=listed.size)
    assert err.value.rule == "MG-H002"
    assert_nothing_written(tmp_path)


def test_announced_size_differing_from_the_lock_stops_before_the_body(fake_hub: FakeHub, tmp_path: Path) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.clear_requests()
    with pytest.raises(IntegrityError) as err:
        fetch(fake_hub, commit, "model.safetensors", tmp_path, expected_size=len(WEIGHTS) - 1)
    assert err.value.rule == "MG-H002"
    assert not [r for r in fake_hub.requests if r.server == "cdn"]
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize("path", ["config.json", "model.safetensors"])
def test_truncated_body_once_is_retried(fake_hub: FakeHub, tmp_path: Path, path: str) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.TRUNCATE, repo=REPO, path=path, times=1)
    got = fetch(fake_hub, commit, path, tmp_path)
    assert got.sha256 == sha256_bytes(FILES[path]) and (tmp_path / "out").read_bytes() == FILES[path]


@pytest.mark.parametrize("path", ["config.json", "model.safetensors"])
def test_truncated_body(fake_hub: FakeHub, tmp_path: Path, path: str) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.TRUNCATE, repo=REPO, path=path)
    with pytest.raises(IntegrityError) as err:
        fetch(fake_hub, commit, path, tmp_path)
    assert err.value.rule == "MG-H008"
    assert_nothing_written(tmp_path)


def test_lfs_redirect_to_a_foreign_host_serving_other_bytes(fake_hub: FakeHub, tmp_path: Path) -> None:
    commit = fake_hub.add_repo(REPO, FILES, gated=True, tokens=[TOKEN])
    fake_hub.inject(Fault.FOREIGN_REDIRECT, repo=REPO, path="model.safetensors")
    with pytest.raises(IntegrityError) as err:
        hub.download(client(fake_hub, TOKEN), REPO, commit, "model.safetensors", tmp_path / "out")
    assert err.value.rule == "MG-H003"
    foreign = [r for r in fake_hub.requests if r.server == "foreign"]
    assert foreign and not any(r.authorized for r in foreign)
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize("location", [None, "file:///etc/passwd"])
def test_git_file_redirected_off_the_hub_is_mg_h009(fake_hub: FakeHub, tmp_path: Path, location: str | None) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.FOREIGN_REDIRECT, repo=REPO, path="config.json", value=location)
    with pytest.raises(IntegrityError) as err:
        fetch(fake_hub, commit, "config.json", tmp_path)
    assert err.value.rule == "MG-H009"
    assert not [r for r in fake_hub.requests if r.server == "foreign"]
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize(("fault", "rule"), [
    (Fault.COMMIT_MISMATCH, "MG-H005"),
    (Fault.BAD_ETAG, "MG-H004"),
])
def test_bad_download_headers(fake_hub: FakeHub, tmp_path: Path, fault: Fault, rule: str) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(fault, repo=REPO, path="config.json")
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(IntegrityError) as err:
        hub.download(client(fake_hub), REPO, commit, "config.json", staging / "out")
    assert err.value.rule == rule
    assert [p for p in tmp_path.rglob("*")] == [staging]


def test_bad_commit_header_is_mg_h004(fake_hub: FakeHub, tmp_path: Path) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.BAD_COMMIT, repo=REPO, value="../../x")
    with pytest.raises(IntegrityError) as err:
        hub.download(client(fake_hub), REPO, commit, "config.json", tmp_path / "out")
    assert err.value.rule == "MG-H004"
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize("path", ["config.json", "model.safetensors"])
def test_5xx_then_success(fake_hub: FakeHub, tmp_path: Path, path: str) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.SERVER_ERROR, repo=REPO, path=path, times=2)
    got = hub.download(client(fake_hub), REPO, commit, path, tmp_path / "out")
    assert got.sha256 == sha256_bytes(FILES[path])
    assert (tmp_path / "out").read_bytes() == FILES[path]


def test_5xx_on_the_cdn_then_success(fake_hub: FakeHub, tmp_path: Path) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.clear_requests()
    fake_hub.inject(Fault.SERVER_ERROR, repo=REPO, path="model.safetensors", times=2, value=502)
    got = hub.download(client(fake_hub), REPO, commit, "model.safetensors", tmp_path / "out")
    assert got.sha256 == sha256_bytes(WEIGHTS)


def test_5xx_always_is_no_verdict(fake_hub: FakeHub, tmp_path: Path) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.SERVER_ERROR, repo=REPO)
    with pytest.raises(HubUnreachableError) as err:
        hub.resolve(client(fake_hub), REPO, "main")
    assert err.value.exit_code == 3
    with pytest.raises(HubUnreachableError):
        hub.download(client(fake_hub), REPO, commit, "config.json", tmp_path / "out")
    assert_nothing_written(tmp_path)


def test_resolve_retries_a_5xx(fake_hub: FakeHub) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.SERVER_ERROR, repo=REPO, times=2)
    assert hub.resolve(client(fake_hub), REPO, "main").commit == commit


def test_slow_hub_within_the_timeout_is_fine_and_beyond_it_is_no_verdict(fake_hub: FakeHub) -> None:
    fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.SLOW, repo=REPO, delay=0.3, times=1)
    assert hub.resolve(client(fake_hub, timeout=5), REPO, "main").files
    fake_hub.inject(Fault.SLOW, repo=REPO, delay=1.0)
    with pytest.raises(HubUnreachableError):
        hub.resolve(client(fake_hub, timeout=0.2), REPO, "main")


def test_slow_body_still_arrives_whole(fake_hub: FakeHub, tmp_path: Path) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.SLOW_BODY, repo=REPO, path="model.safetensors", delay=0.5)
    got = fetch(fake_hub, commit, "model.safetensors", tmp_path, expected_size=len(WEIGHTS))
    assert got.sha256 == sha256_bytes(WEIGHTS)


def test_unreachable_hub(tmp_path: Path) -> None:
    fake = FakeHub().start()
    commit = fake.add_repo(REPO, FILES)
    c = client(fake)
    hub.resolve(c, REPO, "main")  # leaves a pooled keep-alive connection behind
    fake.stop()
    with pytest.raises(HubUnreachableError) as err:
        hub.resolve(c, REPO, "main")
    assert err.value.exit_code == 3 and c.endpoint in err.value.message
    with pytest.raises(HubUnreachableError):
        hub.download(c, REPO, commit, "config.json", tmp_path / "out")
    assert_nothing_written(tmp_path)


# --- verify --remote ----------------------------------------------------------------------------


def locked_model(commit: str, *extra: LockedFile) -> LockedHFModel:
    return LockedHFModel("tiny", REPO, "main", commit, (
        LockedFile("config.json", len(CONFIG), sha256_bytes(CONFIG), "git-blob-sha1", git_blob_sha1(CONFIG)),
        LockedFile("model.safetensors", len(WEIGHTS), sha256_bytes(WEIGHTS), "lfs-sha256"),
        *extra,
    ))


def test_remote_status_reports_a_vanished_commit(fake_hub: FakeHub) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.push(REPO, {"config.json": b"{}"})
    fake_hub.delete_commit(REPO, commit)
    findings = hub.remote_file_status(client(fake_hub), locked_model(commit))
    assert [f.rule for f in findings] == ["MG-H005"]


def test_remote_status_reports_changed_hashes_sizes_and_missing_files(fake_hub: FakeHub) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    fake_hub.inject(Fault.HASH_LIE, repo=REPO, path="model.safetensors")
    fake_hub.inject(Fault.SIZE_LIE, repo=REPO, path="config.json")
    gone = LockedFile("tokenizer.json", 2, sha256_bytes(b"{}"), "git-blob-sha1", "0" * 40)
    findings = hub.remote_file_status(client(fake_hub), locked_model(commit, gone))
    assert sorted((f.rule, f.path) for f in findings) == [
        ("MG-H002", "config.json"), ("MG-H003", "model.safetensors"), ("MG-H006", "tokenizer.json"),
    ]


# --- the token never leaks ---------------------------------------------------------------------


def test_token_never_appears_in_errors_reprs_or_logs(
    fake_hub: FakeHub, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    commit = fake_hub.add_repo(REPO, FILES, gated=True, tokens=["hf_someoneelse"])
    fake_hub.add_repo("acme/private", FILES, private=True)
    c = client(fake_hub, TOKEN)
    texts = [repr(c), str(c)]
    attempts = [
        lambda: hub.download(c, REPO, commit, "config.json", tmp_path / "a"),
        lambda: hub.resolve(c, "acme/private", "main"),
        lambda: hub.resolve(c, "acme/missing", "main"),
        lambda: hub.download(c, REPO, "0" * 40, "config.json", tmp_path / "b"),
    ]
    fake_hub.inject(Fault.SERVER_ERROR, repo="acme/other")
    fake_hub.add_repo("acme/other", FILES)
    attempts.append(lambda: hub.resolve(c, "acme/other", "main"))
    fake_hub.add_repo("acme/hostile", FILES)
    fake_hub.inject(Fault.BAD_PATH, repo="acme/hostile", path="config.json", value="../../etc/passwd")
    attempts.append(lambda: hub.resolve(c, "acme/hostile", "main"))
    for attempt in attempts:
        with pytest.raises(ModelguardError) as err:
            attempt()
        assert isinstance(err.value, (AccessDeniedError, NotFoundError, HubUnreachableError, IntegrityError))
        texts += [str(err.value), repr(err.value), repr(err.value.args), str(err.value.__cause__),
                  str(err.value.__context__)]
    out, errout = capsys.readouterr()
    texts += [out, errout, caplog.text]
    assert all(TOKEN not in text for text in texts)
    assert all(r.headers.get("authorization") in (None, "<redacted>") for r in fake_hub.requests)


_VERBOSE_RUN = """
import sys
from pathlib import Path
from modelguard.hub import client as hub
from modelguard.errors import ModelguardError
endpoint, commit, dest, token = sys.argv[1:]
client = hub.HubClient(endpoint, token, retries=1, retry_wait=0.01)
print(repr(client), hub.resolve(client, "acme/tiny", "main"))
hub.download(client, "acme/tiny", commit, "model.safetensors", Path(dest) / "m", progress=True)
for repo in ("acme/tiny", "acme/missing"):
    try:
        hub.download(client, repo, commit, "config.json", Path(dest) / "c")
    except ModelguardError as exc:
        print(type(exc).__name__, exc)
"""


def test_token_stays_out_of_debug_logs_and_progress_output(fake_hub: FakeHub, tmp_path: Path) -> None:
    commit = fake_hub.add_repo(REPO, FILES, gated=True, tokens=[TOKEN])
    fake_hub.inject(Fault.TAMPER, repo=REPO, path="config.json")
    env = {**os.environ, "HF_DEBUG": "1", "HF_HUB_VERBOSITY": "debug", "TQDM_POSITION": "-1"}
    proc = subprocess.run([sys.executable, "-c", _VERBOSE_RUN, fake_hub.endpoint, commit, str(tmp_path), TOKEN],
                          cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
                          timeout=120)
    assert "IntegrityError" in proc.stdout and "NotFoundError" in proc.stdout, proc.stdout + proc.stderr
    assert "curl" in proc.stderr  # huggingface_hub's debug log really ran
    assert TOKEN not in proc.stdout + proc.stderr
