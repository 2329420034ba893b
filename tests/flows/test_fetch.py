"""fetch: quarantine, verify, scan, apply the policy, admit — against the loopback fake Hub.

Every rejection test checks the rule, the exit code and that the verified cache holds nothing
for the refused model afterwards (and that quarantine is empty).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.errors import NothingToCheckError, StaleLockError
from modelguard.flows.fetch import fetch, fetch_locked
from modelguard.models import Severity
from modelguard.spec.types import Lockfile
from tests.cache_helpers import (
    admit_local,
    allow_all,
    locked_model,
    only_partials,
    publish,
    quick_client,
    write_project,
)
from tests.fakehub import FakeHub, Fault

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
    assert report.exit_code == 0
    assert report.models[0].status.value == "already-admitted"
    assert {r.path for r in report.files} == {"tiny:weights.bin", "tiny:config.txt"}
    assert cache_tree(tmp_path) == before and quarantine_empty(tmp_path)


def test_policy_change_rescans_admitted_files_without_network(tmp_path: Path) -> None:
    model = locked_model("tiny", "acme/tiny", FILES)
    admit_local(tmp_path, model, FILES, allow_all())
    lock = Lockfile(1, "modelguard 0.1.0", "0" * 64, hf_models=(model,))
    tighter = allow_all(max_file_size=100)
    report = fetch_locked(lock, tighter, cache_dir=tmp_path, client_factory=no_network)
    assert report.exit_code == 1
    assert report.models[0].status.value == "refused"
    assert "MG-P014" in {f.rule for f in report.all_findings()}
    assert cache_tree(tmp_path) == []  # the earlier admission no longer stands: evicted


def test_denied_org_is_refused_before_any_network(tmp_path: Path) -> None:
    model = locked_model("evil", "evil/tiny", FILES)
    lock = Lockfile(1, "modelguard 0.1.0", "0" * 64, hf_models=(model,))
    policy = allow_all(denied_orgs=("evil",))
    report = fetch_locked(lock, policy, cache_dir=tmp_path, client_factory=no_network)
    assert report.exit_code == 1
    assert [f.rule for f in report.findings] == ["MG-P002"]
    assert report.models[0].status.value == "refused"
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


# --- against the loopback fake Hub -----------------------------------------------------------



CLEAN = {"model.txt": b"tensor data\n" * 200, "config.txt": b"hidden=4\n", "sub/vocab.txt": b"a\nb\n"}


def hub_fetch(fake_hub: FakeHub, tmp_path: Path, models, capsys, *extra: str) -> tuple[int, dict]:
    lock_path, _ = write_project(tmp_path, list(models))
    code = run(["--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock_path), "--cache-dir",
                str(tmp_path / "cache"), "--format", "json", *extra])
    return code, json.loads(capsys.readouterr().out)


def statuses(doc: dict) -> dict[str, str]:
    return {m["name"]: m["status"] for m in doc["models"]}


def file_rules(doc: dict, name: str) -> set[str]:
    return {f["rule"] for r in doc["files"] if r["path"].startswith(name + ":") for f in r["findings"]} | {
        f["rule"] for f in doc["findings"] if f.get("model") == name}


def admitted_repos(cache: Path) -> set[str]:
    hub_dir = cache / "hub"
    return {p.name for p in hub_dir.iterdir()} if hub_dir.exists() else set()


def test_fetch_admits_and_loaders_resolve_offline(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    from huggingface_hub import hf_hub_download, snapshot_download

    model = publish(fake_hub, "tiny", "acme/tiny", CLEAN, lfs=["model.txt"])
    code, doc = hub_fetch(fake_hub, tmp_path, [model], capsys)
    assert code == 0, doc
    assert statuses(doc) == {"tiny": "admitted"}
    assert {r["path"] for r in doc["files"]} == {"tiny:model.txt", "tiny:config.txt", "tiny:sub/vocab.txt"}
    cache = tmp_path / "cache"
    hub_dir = str(cache / "hub")
    got = hf_hub_download("acme/tiny", "sub/vocab.txt", revision="main", cache_dir=hub_dir, local_files_only=True)
    assert Path(got).read_bytes() == CLEAN["sub/vocab.txt"]
    folder = snapshot_download("acme/tiny", cache_dir=hub_dir, local_files_only=True)
    assert (Path(folder) / "model.txt").read_bytes() == CLEAN["model.txt"]
    assert quarantine_empty(cache)
    # Only the locked commit was ever asked for: never a branch name.
    assert all("/main" not in r.path for r in fake_hub.requests), [r.path for r in fake_hub.requests]
    # Verify passes offline on what fetch admitted.
    assert run(["verify", "--lockfile", str(tmp_path / "modelguard.lock"), "--cache-dir", str(cache)]) == 0


def test_second_fetch_makes_no_request(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    model = publish(fake_hub, "tiny", "acme/tiny", CLEAN)
    assert hub_fetch(fake_hub, tmp_path, [model], capsys)[0] == 0
    fake_hub.clear_requests()
    code, doc = hub_fetch(fake_hub, tmp_path, [model], capsys)
    assert code == 0 and statuses(doc) == {"tiny": "already-admitted"}
    assert fake_hub.requests == []


FAULTS = [
    # fault, path it hits, rule, exit code
    (Fault.TAMPER, "model.txt", "MG-H003", 1),
    (Fault.TAMPER, "config.txt", "MG-H003", 1),
    (Fault.HASH_LIE, "model.txt", "MG-H003", 1),
    (Fault.HASH_LIE, "config.txt", "MG-H003", 1),
    (Fault.SIZE_LIE, "model.txt", "MG-H002", 1),
    (Fault.TRUNCATE, "model.txt", "MG-H008", 1),
    (Fault.FOREIGN_REDIRECT, "model.txt", "MG-H003", 1),
    (Fault.FOREIGN_REDIRECT, "config.txt", "MG-H009", 1),
    (Fault.COMMIT_MISMATCH, "config.txt", "MG-H005", 1),
    (Fault.SERVER_ERROR, "model.txt", "MG-H107", 3),
]


@pytest.mark.parametrize(("fault", "path", "rule", "code"), FAULTS, ids=lambda v: str(getattr(v, "value", v)))
def test_hub_faults_refuse_the_model_and_admit_nothing_bad(
    fake_hub: FakeHub, tmp_path: Path, fault: Fault, path: str, rule: str, code: int
) -> None:
    bad = publish(fake_hub, "bad", "acme/bad", CLEAN, lfs=["model.txt"])
    good = publish(fake_hub, "good", "acme/good", CLEAN, lfs=["model.txt"])
    fake_hub.inject(fault, repo="acme/bad", path=path)
    lock = Lockfile(1, "modelguard 0.1.0", "0" * 64, hf_models=(bad, good))
    report = fetch_locked(lock, allow_all(), cache_dir=tmp_path, client_factory=lambda: quick_client(fake_hub.endpoint))
    assert report.exit_code == code
    models = {m.name: m.status.value for m in report.models or ()}
    assert models == {"bad": "refused" if code == 1 else "no-verdict", "good": "admitted"}
    assert rule in {f.rule for f in report.all_findings() if f.model == "bad"}
    assert admitted_repos(tmp_path) == {"models--acme--good"}
    assert not (tmp_path / "admissions" / "models--acme--bad").exists()
    assert quarantine_empty(tmp_path)


def test_a_body_cut_short_once_is_retried_and_checked(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    model = publish(fake_hub, "tiny", "acme/tiny", CLEAN, lfs=["model.txt"])
    fake_hub.inject(Fault.TRUNCATE, repo="acme/tiny", path="model.txt", times=1)
    code, doc = hub_fetch(fake_hub, tmp_path, [model], capsys)
    assert code == 0 and statuses(doc) == {"tiny": "admitted"}
    snap = tmp_path / "cache" / "hub" / "models--acme--tiny" / "snapshots" / model.commit
    assert (snap / "model.txt").read_bytes() == CLEAN["model.txt"]


def test_slow_responses_still_admit(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    model = publish(fake_hub, "tiny", "acme/tiny", CLEAN, lfs=["model.txt"])
    fake_hub.inject(Fault.SLOW, repo="acme/tiny", delay=0.2, times=3)
    code, doc = hub_fetch(fake_hub, tmp_path, [model], capsys)
    assert code == 0 and statuses(doc) == {"tiny": "admitted"}


def test_an_unsendable_hf_token_is_a_usage_error_and_admits_nothing(
    fake_hub: FakeHub, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_Pasted\u2014Twice")
    model = publish(fake_hub, "tiny", "acme/tiny", CLEAN, lfs=["model.txt"])
    lock_path, _ = write_project(tmp_path, [model])
    fake_hub.clear_requests()
    code = run(["--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock_path), "--cache-dir",
                str(tmp_path / "cache")])
    out = capsys.readouterr()
    assert code == 2 and out.err.splitlines() == [
        "modelguard: error: HF_TOKEN holds a non-ASCII character, so it is not a Hub token; set HF_TOKEN to the "
        "token alone (printable ASCII, no spaces or line breaks)"]
    assert "hf_Pasted" not in out.out + out.err
    assert fake_hub.requests == []
    assert admitted_repos(tmp_path / "cache") == set() and quarantine_empty(tmp_path / "cache")


def test_gated_repo_is_no_verdict(fake_hub: FakeHub, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    model = publish(fake_hub, "gated", "acme/gated", CLEAN, gated=True)
    code, doc = hub_fetch(fake_hub, tmp_path, [model], capsys)
    assert code == 3 and statuses(doc) == {"gated": "no-verdict"}
    assert "MG-H107" in file_rules(doc, "gated")
    assert admitted_repos(tmp_path / "cache") == set() and quarantine_empty(tmp_path / "cache")
    lock_path = tmp_path / "modelguard.lock"
    assert run(["--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock_path), "--cache-dir",
                str(tmp_path / "cache")]) == 3
    summary = [line for line in capsys.readouterr().out.splitlines() if " files — " in line or " file — " in line]
    assert summary and summary[0].startswith("NO VERDICT:"), summary  # not "FAILED": nothing was judged bad


def test_unsafe_content_is_refused_per_file(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    hidden_zip = b"\0" * 8 + b"PK\x03\x04\x14\x00" + bytes(range(256)) * 4  # unknown, hides a zip header
    files = dict(CLEAN, **{"weights.bin": hidden_zip})
    bad = publish(fake_hub, "bad", "acme/bad", files)
    good = publish(fake_hub, "good", "acme/good", CLEAN)
    code, doc = hub_fetch(fake_hub, tmp_path, [bad, good], capsys)
    assert code == 1
    assert statuses(doc) == {"bad": "refused", "good": "admitted"}
    per_file = {r["path"]: r["verdict"] for r in doc["files"]}
    assert per_file["bad:weights.bin"] == "unscannable" and per_file["bad:config.txt"] == "clean"
    assert admitted_repos(tmp_path / "cache") == {"models--acme--good"}


def test_policy_refuses_custom_code(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    files = dict(CLEAN, **{"modeling_x.py": b"class M:\n    pass\n"})
    model = publish(fake_hub, "code", "acme/code", files)
    code, doc = hub_fetch(fake_hub, tmp_path, [model], capsys)
    assert code == 1 and "MG-P011" in file_rules(doc, "code")
    assert admitted_repos(tmp_path / "cache") == set()


def test_file_removed_from_the_hub_is_refused(fake_hub: FakeHub, tmp_path: Path) -> None:
    model = publish(fake_hub, "tiny", "acme/tiny", CLEAN)
    fake_hub.delete_commit("acme/tiny", model.commit)
    lock = Lockfile(1, "modelguard 0.1.0", "0" * 64, hf_models=(model,))
    report = fetch_locked(lock, allow_all(), cache_dir=tmp_path, client_factory=lambda: quick_client(fake_hub.endpoint))
    assert report.exit_code == 1
    assert "MG-H006" in {f.rule for f in report.all_findings()}
    assert admitted_repos(tmp_path) == set()


def test_tampered_admitted_blob_is_refetched(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    model = publish(fake_hub, "tiny", "acme/tiny", CLEAN, lfs=["model.txt"])
    assert hub_fetch(fake_hub, tmp_path, [model], capsys)[0] == 0
    cache = tmp_path / "cache"
    blob = Path(os.path.realpath(cache / "hub" / "models--acme--tiny" / "snapshots" / model.commit / "model.txt"))
    st = blob.stat()
    os.chmod(blob, 0o644)
    blob.write_bytes(b"X" * st.st_size)  # same size, same inode ...
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the old mtime: only the bytes tell
    code, doc = hub_fetch(fake_hub, tmp_path, [model], capsys)
    assert code == 0 and statuses(doc) == {"tiny": "admitted"}
    assert blob.read_bytes() == CLEAN["model.txt"]


# --- real processes: kill -9, two fetches at once, disk full ----------------------------------


def _fetch_cmd(fake_hub: FakeHub, lock_path: Path, cache: Path) -> list[str]:
    return [sys.executable, "-m", "modelguard", "--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock_path),
            "--cache-dir", str(cache), "--format", "json"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT")}
    env["HF_HOME"] = str(tmp_path / "hf-home")  # never the user's own Hugging Face cache
    return env


def _wait_for(condition, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_kill_9_mid_download_then_fetch_completes(fake_hub: FakeHub, tmp_path: Path) -> None:
    # huggingface_hub writes in 10 MiB chunks: the file must be larger for a partial write to exist.
    big = dict(CLEAN, **{"model.txt": b"weights\n" * (3 << 20)})
    model = publish(fake_hub, "tiny", "acme/tiny", big, lfs=["model.txt"])
    lock_path, _ = write_project(tmp_path, [model])
    cache = tmp_path / "cache"
    # The second file's body trickles in, so the process is killed with a partial file in quarantine.
    files = {lf.path: lf for lf in model.files}
    fake_hub.inject(Fault.SLOW_BODY, repo="acme/tiny", path="model.txt", delay=5.0, times=1)
    child = subprocess.Popen(_fetch_cmd(fake_hub, lock_path, cache), env=_env(tmp_path),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def partial() -> list[Path]:
        found = []
        for p in (cache / "quarantine").rglob("*.part"):
            try:
                if 0 < p.stat().st_size < files["model.txt"].size:
                    found.append(p)
            except FileNotFoundError:  # renamed or removed while we looked
                pass
        return found

    try:
        _wait_for(lambda: bool(partial()), "a partial download in quarantine")
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert partial()  # the crash left a partial file in staging ...
    assert admitted_repos(cache) == set()  # ... and nothing in the verified cache
    # A partial blob left by anything else is not trusted either: it is re-downloaded.
    blobs = cache / "hub" / "models--acme--tiny" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / files["model.txt"].sha256).write_bytes(big["model.txt"][:100])
    fake_hub.clear_faults()
    done = subprocess.run(_fetch_cmd(fake_hub, lock_path, cache), env=_env(tmp_path), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert statuses(json.loads(done.stdout)) == {"tiny": "admitted"}
    assert quarantine_empty(cache)
    assert run(["verify", "--lockfile", str(lock_path), "--cache-dir", str(cache)]) == 0


@pytest.mark.slow
def test_two_fetches_at_once_leave_one_consistent_cache(fake_hub: FakeHub, tmp_path: Path) -> None:
    a = publish(fake_hub, "a", "acme/a", CLEAN, lfs=["model.txt"])
    b = publish(fake_hub, "b", "acme/b", dict(CLEAN, **{"config.txt": b"hidden=8\n"}))
    lock_path, _ = write_project(tmp_path, [a, b])
    cache = tmp_path / "cache"
    fake_hub.inject(Fault.SLOW, repo="acme/a", path="model.txt", delay=0.5, times=1)  # make the runs overlap
    cmd = _fetch_cmd(fake_hub, lock_path, cache)
    children = [subprocess.Popen(cmd, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
    outputs = [c.communicate(timeout=120) for c in children]
    assert [c.returncode for c in children] == [0, 0], [err for _, err in outputs]
    seen = [statuses(json.loads(out)) for out, _ in outputs]
    for name in ("a", "b"):
        assert sorted(s[name] for s in seen) == ["admitted", "already-admitted"]
    # Each file was downloaded once: the second run waited for the lock, then found everything admitted.
    downloads = [r for r in fake_hub.requests if r.method == "GET" and ("resolve" in r.path or r.server == "cdn")]
    assert downloads
    assert len(downloads) == len({r.path for r in downloads})
    assert quarantine_empty(cache)
    assert run(["verify", "--lockfile", str(lock_path), "--cache-dir", str(cache)]) == 0


def _small_file_limit() -> None:
    # A real kernel limit on how much this process may write per file: writes past it fail with
    # EFBIG, like a full disk fails with ENOSPC. SIGXFSZ would kill the process instead: ignore it.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


@pytest.mark.slow
def test_disk_full_during_download_is_no_verdict(fake_hub: FakeHub, tmp_path: Path) -> None:
    files = dict(CLEAN, **{"model.txt": b"weights\n" * 32_768})  # 256 KiB, over the limit
    model = publish(fake_hub, "big", "acme/big", files)
    lock_path, _ = write_project(tmp_path, [model])
    cache = tmp_path / "cache"
    done = subprocess.run(_fetch_cmd(fake_hub, lock_path, cache), env=_env(tmp_path), capture_output=True, text=True,
                          timeout=120, preexec_fn=_small_file_limit)
    assert done.returncode == 3, done.stderr
    doc = json.loads(done.stdout)
    assert statuses(doc) == {"big": "no-verdict"}
    assert "MG-H106" in file_rules(doc, "big")
    assert admitted_repos(cache) == set() and quarantine_empty(cache)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE semantics are Linux-specific")
def test_disk_full_during_download_in_process_is_h106(fake_hub: FakeHub, tmp_path: Path) -> None:
    """The in-process twin of the test above, so the rule registry (tests/report/rule_triggers.py) sees
    MG-H106 made: the file-size limit is lowered for this process around the fetch only."""
    files = dict(CLEAN, **{"model.txt": b"weights\n" * 32_768})  # 256 KiB, over the limit
    model = publish(fake_hub, "big", "acme/big", files)
    lock = Lockfile(1, "modelguard 0.1.0", "0" * 64, hf_models=(model,))
    cache = tmp_path / "cache"
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, limit[1]))
    try:
        report = fetch_locked(lock, allow_all(), cache_dir=cache,
                              client_factory=lambda: quick_client(fake_hub.endpoint))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        signal.signal(signal.SIGXFSZ, handler)
    assert report.exit_code == 3 and report.models is not None
    assert [m.status.value for m in report.models] == ["no-verdict"]
    assert [(f.rule, f.path) for f in report.findings] == [("MG-H106", "model.txt")]
    assert admitted_repos(cache) == set() and quarantine_empty(cache)


# --- real formats: the scan and the policy decide admission -------------------------------------

EVIL_PICKLE = b"\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."  # never loaded
CUSTOM_GLOBAL_PICKLE = b"\x80\x02cmylib\nThing\nq\x00)Rq\x01."
PLAIN_PICKLE = b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s."


def safetensors_bytes() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    return len(header).to_bytes(8, "little") + header + b"\x00" * 8


def test_real_formats_clean_model_admitted_malicious_pickle_refused(fake_hub: FakeHub, tmp_path: Path,
                                                                   capsys) -> None:
    clean = publish(fake_hub, "clean", "acme/clean",
                    {"model.safetensors": safetensors_bytes(), "config.json": b'{"hidden_size": 2}'})
    evil = publish(fake_hub, "evil", "acme/evil",
                   {"pytorch_model.bin": EVIL_PICKLE, "config.json": b'{"hidden_size": 2}'})
    code, doc = hub_fetch(fake_hub, tmp_path, [clean, evil], capsys)
    assert code == 1
    assert statuses(doc) == {"clean": "admitted", "evil": "refused"}
    verdicts = {r["path"]: (r["format"], r["verdict"]) for r in doc["files"]}
    assert verdicts["evil:pytorch_model.bin"] == ("pickle", "malicious")
    assert verdicts["clean:model.safetensors"] == ("safetensors", "clean")
    assert "MG-S101" in file_rules(doc, "evil")
    assert admitted_repos(tmp_path / "cache") == {"models--acme--clean"}


def test_every_failing_file_of_a_refused_model_is_reported_and_each_downloaded_once(
    fake_hub: FakeHub, tmp_path: Path, capsys
) -> None:
    files = {**CLEAN, "pytorch_model.bin": EVIL_PICKLE, "extra.txt": b"tensor extra\n" * 200}
    model = publish(fake_hub, "bad", "acme/bad", files, lfs=["model.txt", "extra.txt"])
    fake_hub.inject(Fault.TAMPER, repo="acme/bad", path="model.txt")      # bytes differ from the lock
    fake_hub.inject(Fault.HASH_LIE, repo="acme/bad", path="config.txt")   # the Hub publishes another hash
    fake_hub.clear_requests()
    code, doc = hub_fetch(fake_hub, tmp_path, [model], capsys)
    assert code == 1 and statuses(doc) == {"bad": "refused"}
    rules = {r["path"]: {f["rule"] for f in r["findings"]} for r in doc["files"]}
    # Bytes that are not the locked ones are integrity failures of the model, about a file, never a file
    # verdict of an undetected format: they were not scanned.
    integrity = {f["path"]: f["rule"] for f in doc["findings"] if f["rule"].startswith("MG-H")}
    assert integrity == {"model.txt": "MG-H003", "config.txt": "MG-H003"}
    assert "bad:model.txt" not in rules and "bad:config.txt" not in rules
    assert "MG-S101" in rules["bad:pytorch_model.bin"]
    assert rules["bad:extra.txt"] == rules["bad:sub/vocab.txt"] == set()
    assert "(and 2 more failing files)" in doc["models"][0]["reason"]
    assert admitted_repos(tmp_path / "cache") == set() and quarantine_empty(tmp_path / "cache")
    assert not (tmp_path / "cache" / "admissions" / "models--acme--bad").exists()
    bodies = [r.path.split("?")[0].rsplit("/", 1)[-1] for r in fake_hub.requests
              if r.method == "GET" and not r.path.startswith("/api/models/")]  # file bodies, not listings
    assert sorted(bodies) == sorted(  # each once; config.txt refused on its published hash, never downloaded
        p.rsplit("/", 1)[-1] for p in files if p != "config.txt")


def test_require_safetensors_refuses_even_a_harmless_pickle(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    model = publish(fake_hub, "p", "acme/p", {"pytorch_model.bin": PLAIN_PICKLE})
    lock_path, _ = write_project(tmp_path, [model], 'allowed-orgs = ["acme"]\nrequire-safetensors = true')
    code = run(["--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock_path), "--cache-dir",
                str(tmp_path / "cache"), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and file_rules(doc, "p") == {"MG-P010"}
    (finding,) = doc["findings"]
    assert finding["location"].endswith("modelguard.toml:3")
    assert admitted_repos(tmp_path / "cache") == set()


def test_safe_globals_apply_only_in_their_scope(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    ours = publish(fake_hub, "ours", "acme/ours", {"model.bin": CUSTOM_GLOBAL_PICKLE})
    theirs = publish(fake_hub, "theirs", "other/theirs", {"model.bin": CUSTOM_GLOBAL_PICKLE})
    body = ('allowed-orgs = ["acme", "other"]\n\n[[policy.safe-globals]]\nmodule = "mylib"\nname = "Thing"\n'
            'scope = "acme"\nreason = "our own class, reviewed"\n')
    lock_path, _ = write_project(tmp_path, [ours, theirs], body)
    code = run(["--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock_path), "--cache-dir",
                str(tmp_path / "cache"), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and statuses(doc) == {"ours": "admitted", "theirs": "refused"}
    assert file_rules(doc, "theirs") == {"MG-S102"} and file_rules(doc, "ours") == set()
    assert admitted_repos(tmp_path / "cache") == {"models--acme--ours"}


def test_end_to_end_lock_fetch_verify(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    """The user's workflow with the real locker: manifest -> lock -> fetch -> verify, then a force-push."""
    fake_hub.add_repo("acme/tiny", {"model.safetensors": safetensors_bytes(), "config.json": b'{"hidden_size": 2}',
                                    "README.md": b"# tiny\n"})
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text('[policy]\nallowed-orgs = ["acme"]\n\n[[hf-model]]\nname = "tiny"\nrepo = "acme/tiny"\n'
                        'include = ["*.safetensors", "*.json"]\n')
    lock_path, cache = tmp_path / "modelguard.lock", tmp_path / "cache"
    endpoint = ["--endpoint", fake_hub.endpoint]
    assert run([*endpoint, "lock", "--manifest", str(manifest), "--lockfile", str(lock_path)]) == 0
    assert run([*endpoint, "fetch", "--lockfile", str(lock_path), "--cache-dir", str(cache)]) == 0
    snap = next((cache / "hub" / "models--acme--tiny" / "snapshots").iterdir())
    assert sorted(p.name for p in snap.iterdir()) == ["config.json", "model.safetensors"]  # README not locked
    assert run(["verify", "--lockfile", str(lock_path), "--cache-dir", str(cache)]) == 0
    capsys.readouterr()
    # The branch moves on the Hub: the lock still pins the old commit, so nothing changes for fetch/verify.
    fake_hub.push("acme/tiny", {"model.safetensors": safetensors_bytes(), "config.json": b'{"hidden_size": 3}'})
    fake_hub.clear_requests()
    assert run([*endpoint, "fetch", "--lockfile", str(lock_path), "--cache-dir", str(cache)]) == 0
    assert fake_hub.requests == []
    assert run([*endpoint, "verify", "--remote", "--lockfile", str(lock_path), "--cache-dir", str(cache)]) == 0


def test_crash_between_snapshot_and_record_is_completed_without_network(tmp_path: Path) -> None:
    model = locked_model("tiny", "acme/tiny", FILES)
    admit_local(tmp_path, model, FILES)
    record = tmp_path / "admissions" / "models--acme--tiny" / f"{model.commit}.json"
    record.unlink()  # as if the process died right before writing it
    lock = Lockfile(1, "modelguard 0.1.0", "0" * 64, hf_models=(model,))
    report = fetch_locked(lock, allow_all(), cache_dir=tmp_path, client_factory=no_network)
    assert report.exit_code == 0 and report.models[0].status.value == "admitted"
    assert record.is_file()


def test_two_entries_pinning_one_commit_share_one_snapshot(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    full = publish(fake_hub, "full", "acme/tiny", CLEAN)
    from dataclasses import replace

    configs = replace(full, name="configs", files=tuple(f for f in full.files if f.path.endswith("config.txt")))
    vocab = replace(full, name="vocab", files=tuple(f for f in full.files if "vocab" in f.path))
    code, doc = hub_fetch(fake_hub, tmp_path, [configs, vocab], capsys)
    assert code == 0 and statuses(doc) == {"configs": "admitted", "vocab": "admitted"}
    snap = tmp_path / "cache" / "hub" / "models--acme--tiny" / "snapshots" / full.commit
    assert sorted(p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_symlink()) == [
        "config.txt", "sub/vocab.txt"]
    assert run(["verify", "--lockfile", str(tmp_path / "modelguard.lock"), "--cache-dir",
                str(tmp_path / "cache")]) == 0


def test_org_not_allowed_is_refused_whatever_fail_on_says(tmp_path: Path) -> None:
    model = locked_model("tiny", "stranger/tiny", FILES)
    lock = Lockfile(1, "modelguard 0.1.0", "0" * 64, hf_models=(model,))
    policy = allow_all(allowed_orgs=("acme",))
    report = fetch_locked(lock, policy, cache_dir=tmp_path, client_factory=no_network, fail_on=Severity.CRITICAL)
    assert report.exit_code == 1 and [f.rule for f in report.findings] == ["MG-P001"]
    assert cache_tree(tmp_path) == []


def test_fetch_json_report_validates_against_the_published_schema(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    from tests._schemas import assert_valid_report

    good = publish(fake_hub, "good", "acme/good", CLEAN)
    evil = publish(fake_hub, "evil", "acme/evil", {"pytorch_model.bin": EVIL_PICKLE})
    code, doc = hub_fetch(fake_hub, tmp_path, [good, evil], capsys)
    assert code == 1 and statuses(doc) == {"good": "admitted", "evil": "refused"}
    assert doc["command"] == "fetch"
    assert_valid_report(doc)
    code, doc = hub_fetch(fake_hub, tmp_path, [good], capsys)  # already admitted: the stored verdicts
    assert code == 0 and statuses(doc) == {"good": "already-admitted"}
    assert_valid_report(doc)


def test_ctrl_c_mid_download_is_exit_3_one_line_and_admits_nothing(fake_hub: FakeHub, tmp_path: Path) -> None:
    model = publish(fake_hub, "tiny", "acme/tiny", CLEAN, lfs=["model.txt"])
    lock_path, _ = write_project(tmp_path, [model])
    cache = tmp_path / "cache"
    fake_hub.inject(Fault.SLOW_BODY, repo="acme/tiny", path="model.txt", delay=20.0, times=1)
    child = subprocess.Popen(_fetch_cmd(fake_hub, lock_path, cache), env=_env(tmp_path),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: any((cache / "quarantine").rglob("*.part")), "the download in progress")
        time.sleep(0.5)  # well inside the 20 s slow body of model.txt, whichever file the .part was
        assert child.poll() is None, "fetch finished before it could be interrupted"
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 3, err
    assert "Traceback" not in err and err.strip().splitlines() == [
        "modelguard: interrupted before a verdict; run the command again"]
    # Nothing admitted; what arrived is kept to resume (issue 15), and the next fetch completes it.
    assert admitted_repos(cache) == set() and only_partials(cache)
    done = subprocess.run(_fetch_cmd(fake_hub, lock_path, cache), env=_env(tmp_path), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert quarantine_empty(cache)
