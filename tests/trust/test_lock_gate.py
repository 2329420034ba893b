"""One freshness and signature check for every entry point: ``lock --check``, ``fetch``, ``verify`` and
``snapshot()`` refuse the same lockfiles, and ``fetch`` / ``snapshot()`` refuse before any request or
admission. Against the loopback fake Hub with the real huggingface_hub client."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from modelguard import api
from modelguard.cli import run
from modelguard.errors import ExitCode, SignatureError, StaleLockError
from modelguard.spec.lockfile import write_lockfile
from modelguard.trust.lock_signature import signer_entry
from tests.api_helpers import CLEAN, LFS, Project, make_project, manifest_text
from tests.fakehub import FakeHub
from tests.trust_keys import new_key, write_key


@pytest.fixture
def project(tmp_path: Path, fake_hub: FakeHub) -> Project:
    made = make_project(tmp_path, fake_hub)
    made.lock()
    return made


def fetch_cli(project: Project, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run(["--endpoint", project.hub.endpoint, "fetch", "--lockfile", str(project.lockfile), "--cache-dir",
                str(project.cache)])
    return code, capsys.readouterr().err


def verify_rules(project: Project, capsys: pytest.CaptureFixture[str]) -> tuple[int, set[str]]:
    project.cache.mkdir(exist_ok=True)
    code = run(["verify", "--lockfile", str(project.lockfile), "--cache-dir", str(project.cache), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    return code, {f["rule"] for f in doc["findings"]}


def swap_names(text: str, a: str, b: str, *, with_spec_sha256: bool = False) -> str:
    """Swap two [[hf-model]] entries' names (and, optionally, their spec-sha256 lines) in lockfile text."""
    blocks = text.split("\n\n")
    index = {re.search(r'^name = "(.*)"$', blk, re.M).group(1): i  # type: ignore[union-attr]
             for i, blk in enumerate(blocks) if blk.startswith("[[hf-model]]")}
    ia, ib = index[a], index[b]
    key = r'^(name|spec-sha256) = "(.*)"$' if with_spec_sha256 else r'^(name) = "(.*)"$'
    va = dict(re.findall(key, blocks[ia], re.M))
    vb = dict(re.findall(key, blocks[ib], re.M))
    for k in va:
        blocks[ia] = blocks[ia].replace(f'{k} = "{va[k]}"', f'{k} = "{vb[k]}"')
        blocks[ib] = blocks[ib].replace(f'{k} = "{vb[k]}"', f'{k} = "{va[k]}"')
    return "\n\n".join(blocks)


@pytest.mark.parametrize("with_spec_sha256", [False, True], ids=["names", "names-and-spec-sha256"])
def test_two_entries_with_swapped_names_are_refused_everywhere(project: Project, with_spec_sha256: bool,
                                                               capsys) -> None:
    project.fetch()
    project.hub.clear_requests()
    swapped = swap_names(project.lockfile.read_text(), "tiny", "other", with_spec_sha256=with_spec_sha256)
    project.lockfile.write_text(swapped)  # manifest-sha256 unchanged: only the content tells

    assert run(["lock", "--check", "--manifest", str(project.manifest)]) == ExitCode.REJECTED
    assert "changed: other, tiny" in capsys.readouterr().err
    code, err = fetch_cli(project, capsys)
    assert code == ExitCode.REJECTED and "MG-L001" in err and project.hub.requests == []
    code, found = verify_rules(project, capsys)
    assert code == ExitCode.REJECTED and "MG-L001" in found
    for kwargs in ({}, {"verify": True}):
        with pytest.raises(StaleLockError) as e:  # never the other model's folder under this name
            api.snapshot("tiny", lockfile=project.lockfile, cache_dir=project.cache, **kwargs)
        assert e.value.rule == "MG-L001"
    with pytest.raises(StaleLockError):
        api.snapshot("other", lockfile=project.lockfile, cache_dir=project.cache, fetch=True,
                     endpoint=project.hub.endpoint, token="")
    assert project.hub.requests == []


def test_a_locked_file_the_manifest_does_not_select_makes_the_lock_stale(project: Project, capsys) -> None:
    text = manifest_text().replace('repo = "acme/other"\n', 'repo = "acme/other"\ninclude = ["*.json"]\n')
    project.manifest.write_text(text)
    assert run(["--endpoint", project.hub.endpoint, "lock", "--manifest", str(project.manifest)]) == 0
    capsys.readouterr()
    locked = api.check_lock(project.manifest)
    other = next(m for m in locked.hf_models if m.name == "other")
    tiny = next(m for m in locked.hf_models if m.name == "tiny")
    assert [f.path for f in other.files] == ["config.json"]
    # The lock smuggles in a file the entry's include globs never select (spec-sha256 left as it was).
    weights = next(f for f in tiny.files if f.path == "model.safetensors")
    grown = replace(other, files=(*other.files, weights))
    write_lockfile(str(project.lockfile), replace(locked, hf_models=tuple(
        grown if m.name == "other" else m for m in locked.hf_models)))
    with pytest.raises(StaleLockError, match="changed: other"):
        api.check_lock(project.manifest)


def _signed_project(project: Project, tmp_path: Path, capsys) -> Path:
    key = new_key("ed25519")
    key_path = write_key(tmp_path, key)
    text = manifest_text().replace('fail-on = "medium"', 'fail-on = "medium"\nrequire-signature = true')
    project.manifest.write_text(text + "\n" + signer_entry(key.public_key()))
    assert run(["sign", "--key", str(key_path), "--lockfile", str(project.lockfile)]) == 0
    capsys.readouterr()
    return key_path


def test_fetch_refuses_a_lockfile_edited_after_signing_before_any_request(project: Project, tmp_path: Path,
                                                                         capsys) -> None:
    _signed_project(project, tmp_path, capsys)
    project.fetch()  # the reviewed, signed lock: admitted (evil refused)
    moved = project.hub.push("acme/tiny", {**CLEAN, "extra.json": b"{}"}, lfs=LFS)
    old = project.commits["acme/tiny"]
    project.lockfile.write_text(project.lockfile.read_text().replace(old, moved))  # pin another commit
    project.hub.clear_requests()
    code, err = fetch_cli(project, capsys)
    assert code == ExitCode.REJECTED and "MG-L102" in err and "nothing was fetched" in err
    assert project.hub.requests == []
    assert not (project.cache / "hub" / "models--acme--tiny" / "snapshots" / moved).exists()
    for kwargs in ({"fetch": True, "endpoint": project.hub.endpoint, "token": ""}, {}):
        with pytest.raises(SignatureError) as e:
            api.snapshot("tiny", lockfile=project.lockfile, cache_dir=project.cache, **kwargs)
        assert e.value.rule == "MG-L102"
    assert project.hub.requests == []
    code, found = verify_rules(project, capsys)
    assert code == ExitCode.REJECTED and "MG-L102" in found


def test_fetch_refuses_a_signature_by_a_key_the_policy_does_not_trust(project: Project, tmp_path: Path,
                                                                      capsys) -> None:
    _signed_project(project, tmp_path, capsys)
    stranger = write_key(tmp_path, new_key("ed25519"), "stranger.pem")
    assert run(["sign", "--key", str(stranger), "--lockfile", str(project.lockfile)]) == 0
    capsys.readouterr()
    project.hub.clear_requests()
    code, err = fetch_cli(project, capsys)
    assert code == ExitCode.REJECTED and "MG-L104" in err and project.hub.requests == []


def test_a_signed_fresh_lock_is_fetched_and_handed_out(project: Project, tmp_path: Path, capsys) -> None:
    _signed_project(project, tmp_path, capsys)
    code, _ = fetch_cli(project, capsys)
    assert code == ExitCode.REJECTED  # evil's pickle is refused; the others are admitted
    assert api.snapshot("tiny", lockfile=project.lockfile, cache_dir=project.cache) == project.snapshot_dir(
        "acme/tiny")
