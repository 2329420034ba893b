"""`modelguard lock` end to end: the real huggingface_hub client against the loopback fake Hub."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.errors import (
    AccessDeniedError,
    ConfigError,
    ExitCode,
    HubUnreachableError,
    IntegrityError,
    ModelguardError,
    NotFoundError,
    PolicyError,
)
from modelguard.flows.lock import lock
from modelguard.hub import client as hub
from modelguard.spec.lockfile import read_lockfile, render_lockfile
from modelguard.spec.types import LockedHFModel
from tests.fakehub import FakeHub, Fault, git_blob_sha1, sha256

REPO = "acme/tiny"
CONFIG = b'{"model_type": "bert"}\n'
VOCAB = b"[PAD]\n[UNK]\n[CLS]\n"
WEIGHTS = bytes(range(256)) * 8  # 2,048 bytes: LFS at the fake's 1,024-byte threshold
ONNX = b"\x08\x07" * 600
FILES = {"config.json": CONFIG, "vocab.txt": VOCAB, "model.safetensors": WEIGHTS, "onnx/model.onnx": ONNX}


def manifest_text(*entries: str, orgs: str = '["acme"]') -> str:
    return f"[policy]\nallowed-orgs = {orgs}\n\n" + "\n".join(entries)


def entry(name: str = "tiny", repo: str = REPO, **keys: object) -> str:
    lines = [f'name = "{name}"', f'repo = "{repo}"']
    for key, value in keys.items():
        rendered = f'"{value}"' if isinstance(value, str) else str(value).replace("'", '"')
        lines.append(f"{key} = {rendered}")
    return "[[hf-model]]\n" + "\n".join(lines) + "\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(autouse=True)
def private_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point tempfile at an empty folder so tests can prove staging is cleaned up."""
    folder = tmp_path_factory.mktemp("staging-root")
    saved = tempfile.tempdir
    tempfile.tempdir = str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = saved


def write_manifest(project: Path, text: str) -> Path:
    path = project / "modelguard.toml"
    path.write_text(text)
    return path


def fast_client(fake: FakeHub, token: str | None = None) -> hub.HubClient:
    return hub.HubClient(fake.endpoint, token, timeout=5, retries=1, retry_wait=0.01)


def do_lock(fake: FakeHub, project: Path, *, token: str | None = None, upgrade: tuple[str, ...] = ()) -> Path:
    lock(str(project / "modelguard.toml"), client=fast_client(fake, token), upgrade=upgrade)
    return project / "modelguard.lock"


def locked(project: Path, name: str = "tiny") -> LockedHFModel:
    return next(m for m in read_lockfile(str(project / "modelguard.lock")).hf_models if m.name == name)


def cli(fake: FakeHub, project: Path, *args: str) -> int:
    return run(["--endpoint", fake.endpoint, "lock", "--manifest", str(project / "modelguard.toml"), *args])


# --- pins ---------------------------------------------------------------------------------------


def test_branch_pins_commit_and_every_file(
    fake_hub: FakeHub, project: Path, private_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit = fake_hub.add_repo(REPO, FILES)
    write_manifest(project, manifest_text(entry()))
    fake_hub.clear_requests()
    assert cli(fake_hub, project) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"tiny: {REPO}@main -> {commit} (4 files)" in out and "written (1 resolved, 0 kept)" in out
    model = locked(project)
    assert (model.commit, model.requested_revision) == (commit, "main")
    files = {f.path: f for f in model.files}
    assert sorted(files) == sorted(FILES)
    weights = files["model.safetensors"]
    assert (weights.size, weights.sha256, weights.published, weights.git_blob_sha1) == (
        len(WEIGHTS), sha256(WEIGHTS), "lfs-sha256", None)
    config = files["config.json"]
    assert (config.size, config.sha256, config.published, config.git_blob_sha1) == (
        len(CONFIG), sha256(CONFIG), "git-blob-sha1", git_blob_sha1(CONFIG))
    # LFS files are pinned from the metadata: their bytes are never requested.
    fetched = [r.path for r in fake_hub.requests if r.method == "GET" and "/resolve" in r.path]
    assert not any("model.safetensors" in p or "model.onnx" in p for p in fetched), fetched
    assert any("config.json" in p for p in fetched)
    assert os.listdir(private_tmp) == []  # staging is gone


def test_tag_and_commit_pins(fake_hub: FakeHub, project: Path) -> None:
    first = fake_hub.add_repo(REPO, FILES, tags=["v1"])
    second = fake_hub.push(REPO, {**FILES, "config.json": b"{}"})
    write_manifest(project, manifest_text(entry("tag", revision="v1"), entry("commit", revision=first),
                                          entry("branch")))
    do_lock(fake_hub, project)
    assert locked(project, "tag").commit == first
    assert locked(project, "commit").commit == first
    assert locked(project, "branch").commit == second


def test_nonexistent_commit_revision_or_repo_exits_2(fake_hub: FakeHub, project: Path) -> None:
    fake_hub.add_repo(REPO, FILES)
    for bad in (entry(revision="0" * 40), entry(revision="no-such-branch"), entry(repo="acme/nothing")):
        write_manifest(project, manifest_text(bad))
        with pytest.raises(NotFoundError):
            do_lock(fake_hub, project)
        assert cli(fake_hub, project) == ExitCode.USAGE
        assert not (project / "modelguard.lock").exists()


def test_include_exclude(fake_hub: FakeHub, project: Path) -> None:
    fake_hub.add_repo(REPO, FILES)
    write_manifest(project, manifest_text(entry(include=["*.json", "*.txt", "*.onnx"], exclude=["onnx/"])))
    do_lock(fake_hub, project)
    assert [f.path for f in locked(project).files] == ["config.json", "vocab.txt"]


def test_globs_selecting_nothing_are_refused(fake_hub: FakeHub, project: Path) -> None:
    fake_hub.add_repo(REPO, FILES)
    write_manifest(project, manifest_text(entry(include=["*.gguf"])))
    with pytest.raises(ConfigError, match="select no file"):
        do_lock(fake_hub, project)
    assert not (project / "modelguard.lock").exists()


def test_more_than_a_thousand_files_are_all_listed(fake_hub: FakeHub, project: Path) -> None:
    files = {f"shards/part-{i:05d}.bin": i.to_bytes(4, "big") for i in range(1_050)}
    fake_hub.add_repo(REPO, files, lfs=files)  # LFS: pinned from the listing, no download each
    write_manifest(project, manifest_text(entry()))
    fake_hub.clear_requests()
    do_lock(fake_hub, project)
    model = locked(project)
    assert len(model.files) == 1_050
    assert {f.path: f.sha256 for f in model.files} == {p: sha256(c) for p, c in files.items()}
    assert sum("/tree/" in r.path for r in fake_hub.requests) >= 2  # followed the Link header


# --- access and reachability ---------------------------------------------------------------------


BAD_TOKENS = {"newline inside": "hf_FirstHalf\nSecondHalf", "non-ASCII": "hf_Token\u2014Dash",
              "control": "hf_Tab\tToken", "space": "hf_Token Plus"}


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_a_token_that_cannot_be_sent_is_a_usage_error_naming_hf_token(
    fake_hub: FakeHub, project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    fake_hub.add_repo(REPO, FILES)
    write_manifest(project, manifest_text(entry()))
    monkeypatch.setenv("HF_TOKEN", token)
    fake_hub.clear_requests()
    assert cli(fake_hub, project) == ExitCode.USAGE
    out = capsys.readouterr()
    lines = out.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("modelguard: error: HF_TOKEN holds a ")
    assert "set HF_TOKEN to the token alone" in lines[0]
    assert not any(part in out.out + out.err for part in token.split()), "the token must never be printed"
    assert fake_hub.requests == [] and not (project / "modelguard.lock").exists()


def test_a_trailing_newline_in_hf_token_is_still_accepted(
    fake_hub: FakeHub, project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_hub.add_repo(REPO, FILES)
    write_manifest(project, manifest_text(entry()))
    monkeypatch.setenv("HF_TOKEN", "hf_FromEcho\n")  # `echo $TOKEN > file` then HF_TOKEN=$(cat file) and the like
    assert cli(fake_hub, project) == ExitCode.OK


def test_a_saved_login_token_that_cannot_be_sent_names_the_login(fake_hub: FakeHub, project: Path) -> None:
    fake_hub.add_repo(REPO, FILES)
    write_manifest(project, manifest_text(entry()))
    hf_home = project / "hf-home"
    hf_home.mkdir()
    (hf_home / "token").write_text("hf_Saved\u2014Token", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH")}
    env["HF_HOME"] = str(hf_home)  # read when huggingface_hub is first imported: a fresh interpreter
    done = subprocess.run([sys.executable, "-m", "modelguard", "--endpoint", fake_hub.endpoint, "lock",
                           "--manifest", str(project / "modelguard.toml")], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.splitlines() == [
        f"modelguard: error: the token saved by `hf auth login` in {hf_home / 'token'} holds a non-ASCII character, "
        "so it is not a Hub token; run `hf auth login` again"]
    assert "hf_Saved" not in done.stdout + done.stderr
    assert fake_hub.requests == [] and not (project / "modelguard.lock").exists()


def test_gated_repo_needs_a_token_and_the_token_never_leaks(
    fake_hub: FakeHub, project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "hf_SecretTokenValue123"
    fake_hub.add_repo(REPO, FILES, gated=True, tokens=[secret])
    write_manifest(project, manifest_text(entry()))
    with pytest.raises(AccessDeniedError) as denied:
        do_lock(fake_hub, project, token=None)
    assert denied.value.exit_code == ExitCode.NO_VERDICT
    assert "log in" in denied.value.message or "access" in denied.value.message
    assert not (project / "modelguard.lock").exists()
    with pytest.raises(AccessDeniedError):
        do_lock(fake_hub, project, token="hf_wrong")
    capsys.readouterr()
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(project / "no-login"))  # no stored login either
    assert cli(fake_hub, project) == ExitCode.NO_VERDICT
    assert "access" in capsys.readouterr().err
    assert not (project / "modelguard.lock").exists()
    assert run(["--endpoint", fake_hub.endpoint, "--token", secret, "lock",
                "--manifest", str(project / "modelguard.toml")]) == ExitCode.OK
    out = capsys.readouterr()
    assert secret not in out.out + out.err
    assert secret not in (project / "modelguard.lock").read_text()
    assert locked(project).commit
    assert run(["--endpoint", fake_hub.endpoint, "--token", "hf_wrong_" + secret, "lock", "--upgrade", "tiny",
                "--manifest", str(project / "modelguard.toml")]) == ExitCode.NO_VERDICT
    out = capsys.readouterr()
    assert secret not in out.out + out.err


def test_private_repo_without_token_exits_3_or_2(fake_hub: FakeHub, project: Path) -> None:
    fake_hub.add_repo(REPO, FILES, private=True, tokens=["hf_ok"])
    write_manifest(project, manifest_text(entry()))
    with pytest.raises(ModelguardError) as err:
        do_lock(fake_hub, project)
    assert err.value.exit_code in (ExitCode.NO_VERDICT, ExitCode.USAGE)
    do_lock(fake_hub, project, token="hf_ok")
    assert locked(project).files


def test_unreachable_hub_exits_3_and_writes_nothing(fake_hub: FakeHub, project: Path) -> None:
    fake_hub.add_repo(REPO, FILES)
    write_manifest(project, manifest_text(entry()))
    client = fast_client(fake_hub)
    fake_hub.stop()
    with pytest.raises(HubUnreachableError) as err:
        lock(str(project / "modelguard.toml"), client=client)
    assert err.value.exit_code == ExitCode.NO_VERDICT
    assert not (project / "modelguard.lock").exists()


# --- hostile or broken metadata ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "path", "value"),
    [
        (Fault.BAD_PATH, "config.json", "../evil.json"),
        (Fault.BAD_PATH, "config.json", "/etc/passwd"),
        (Fault.BAD_PATH, "config.json", "a\\b"),
        (Fault.DUPLICATE_PATH, "config.json", None),
        (Fault.BAD_SHA256, "model.safetensors", None),
        (Fault.BAD_BLOB_ID, "config.json", None),
        (Fault.BAD_SIZE, "config.json", None),
        (Fault.BAD_COMMIT, None, None),
        (Fault.HASH_LIE, "config.json", None),
        (Fault.SIZE_LIE, "config.json", None),
        (Fault.TAMPER, "config.json", None),
        (Fault.COMMIT_MISMATCH, "config.json", None),
        (Fault.BAD_ETAG, "config.json", None),
    ],
)
def test_hostile_hub_is_refused_and_nothing_is_written(
    fake_hub: FakeHub, project: Path, private_tmp: Path, fault: Fault, path: str | None, value: object
) -> None:
    fake_hub.add_repo(REPO, FILES)
    fake_hub.add_repo("acme/other", {"config.json": b"{}"})
    write_manifest(project, manifest_text(entry("other", "acme/other")))
    lockfile = do_lock(fake_hub, project)
    before = lockfile.read_bytes()
    write_manifest(project, manifest_text(entry("other", "acme/other"), entry()))
    fake_hub.inject(fault, repo=REPO, path=path, value=value)
    with pytest.raises(IntegrityError) as err:
        do_lock(fake_hub, project)
    assert err.value.exit_code == ExitCode.REJECTED
    assert err.value.rule is not None and err.value.rule.startswith("MG-H")
    assert lockfile.read_bytes() == before
    assert os.listdir(private_tmp) == []
    assert not (project.parent / "evil.json").exists()
    assert cli(fake_hub, project) == ExitCode.REJECTED
    assert lockfile.read_bytes() == before


# --- keeping, upgrading, policy ------------------------------------------------------------------


def test_relock_unchanged_makes_no_request_and_leaves_the_file_untouched(fake_hub: FakeHub, project: Path) -> None:
    fake_hub.add_repo(REPO, FILES)
    write_manifest(project, manifest_text(entry()))
    lockfile = do_lock(fake_hub, project)
    before = lockfile.read_bytes()
    os.utime(lockfile, (1_000_000, 1_000_000))
    fake_hub.push(REPO, {**FILES, "config.json": b"{}"})  # upstream moved: plain lock keeps the pin
    fake_hub.clear_requests()
    assert cli(fake_hub, project) == ExitCode.OK
    assert fake_hub.requests == []
    assert lockfile.read_bytes() == before and lockfile.stat().st_mtime == 1_000_000


def test_upgrade_reresolves_only_the_named_entry(fake_hub: FakeHub, project: Path) -> None:
    first = fake_hub.add_repo(REPO, FILES)
    other = fake_hub.add_repo("acme/other", {"config.json": b"{}"})
    write_manifest(project, manifest_text(entry(), entry("other", "acme/other")))
    do_lock(fake_hub, project)
    second = fake_hub.push(REPO, {**FILES, "config.json": b'{"v": 2}'})
    fake_hub.push("acme/other", {"config.json": b'{"v": 2}'})
    fake_hub.clear_requests()
    assert cli(fake_hub, project, "--upgrade", "tiny") == ExitCode.OK
    assert locked(project).commit == second and first != second
    assert locked(project, "other").commit == other
    assert not any("acme/other" in r.path for r in fake_hub.requests)
    config = next(f for f in locked(project).files if f.path == "config.json")
    assert config.sha256 == sha256(b'{"v": 2}')


def test_edited_entry_is_reresolved_and_check_tracks_it(fake_hub: FakeHub, project: Path) -> None:
    fake_hub.add_repo(REPO, FILES)
    fake_hub.add_repo("acme/other", {"config.json": b"{}"})
    write_manifest(project, manifest_text(entry()))
    do_lock(fake_hub, project)
    assert cli(fake_hub, project, "--check") == ExitCode.OK
    write_manifest(project, manifest_text(entry(include=["*.json"]), entry("other", "acme/other")))
    assert cli(fake_hub, project, "--check") == ExitCode.REJECTED
    fake_hub.clear_requests()
    do_lock(fake_hub, project)
    assert [f.path for f in locked(project).files] == ["config.json"]
    assert locked(project, "other").files
    assert cli(fake_hub, project, "--check") == ExitCode.OK


def test_org_not_allowed_is_refused_before_any_request(
    fake_hub: FakeHub, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_hub.add_repo(REPO, FILES)
    fake_hub.add_repo("Acme/tiny", FILES)
    for orgs, repo, rule in (('["acme"]', "Acme/tiny", "MG-P001"), ("[]", REPO, "MG-P001")):
        manifest = write_manifest(project, manifest_text(entry(repo=repo), orgs=orgs))
        fake_hub.clear_requests()
        with pytest.raises(PolicyError) as err:
            do_lock(fake_hub, project)
        assert err.value.rule == rule
        assert cli(fake_hub, project) == ExitCode.REJECTED
        assert f"{manifest}:4" in capsys.readouterr().err
        assert fake_hub.requests == []
        assert not (project / "modelguard.lock").exists()


# --- the reference lockfile in lockfiles/ is what `lock` writes -----------------------------------

REFERENCE = Path(__file__).resolve().parents[2] / "lockfiles"


def serve_reference(fake: FakeHub) -> None:
    """Stand-in content for the reference manifest's repos (not the real repos' bytes)."""
    fake.add_repo("sentence-transformers/all-MiniLM-L6-v2", {
        "config.json": b'{"architectures": ["BertModel"], "hidden_size": 384, "model_type": "bert"}\n',
        "modules.json": b'[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]\n',
        "tokenizer_config.json": b'{"do_lower_case": true, "model_max_length": 512}\n',
        "vocab.txt": b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nof\n",
        "model.safetensors": b'\x10\x00\x00\x00\x00\x00\x00\x00{"__metadata__":{}}' + bytes(2048),
        "README.md": b"# all-MiniLM-L6-v2 (stand-in)\n",
        "onnx/model.onnx": b"\x08\x07" * 700,
        "openvino/openvino_model.xml": b"<net/>\n",
    })
    fake.add_repo("google/bert-tiny-demo", {
        "config.json": b'{"model_type": "bert", "num_labels": 2}\n',
        "model.safetensors": b'\x10\x00\x00\x00\x00\x00\x00\x00{"__metadata__":{}}' + bytes(4096),
    }, tags=["v1.0"])


def test_reference_lockfile_is_what_lock_writes(fake_hub: FakeHub, project: Path) -> None:
    """Golden test: re-locking the reference manifest gives the reference lockfile, byte for byte."""
    serve_reference(fake_hub)
    expected = (REFERENCE / "modelguard.lock").read_text()
    reference = read_lockfile(str(REFERENCE / "modelguard.lock"))
    write_manifest(project, (REFERENCE / "modelguard.toml").read_text())
    # Keep the provider pins (their resolved-at is a date); every Hub entry is resolved again.
    seed = replace(reference, hf_models=())
    (project / "modelguard.lock").write_text(render_lockfile(seed))
    do_lock(fake_hub, project)
    assert (project / "modelguard.lock").read_text() == expected
