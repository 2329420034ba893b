"""One validator per identifier kind: every layer that takes a repo id, commit, digest, repo path or
lock name from outside accepts and refuses exactly the same strings, matched in full."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from modelguard.errors import IntegrityError, LockfileError, ModelguardError, UsageError
from modelguard.hub import metadata
from modelguard.spec import ids
from modelguard.spec.lockfile import parse_lockfile, render_lockfile
from modelguard.spec.manifest import parse_manifest
from modelguard.spec.types import LockedFile, LockedHFModel, Lockfile
from modelguard.store import cache
from modelguard.trust import revocation

C = "c" * 40
H = "a" * 64

GOOD_REPOS = ["acme/tiny", "sentence-transformers/all-MiniLM-L6-v2", "a/b", "_org/_name_", "Org.1/m.v2_x",
              "o" * 96 + "/" + "n" * 96]
BAD_REPOS = [
    "tiny",                 # one part: no org for the policy to decide on
    "a/b/c", "/a", "a/", "",
    "a--b/c", "a/b--c",     # '--' would make the cache folder models--a--b--c ambiguous
    "a/b..c", "a/..",
    "a/b.", "a./b",         # trailing '.'
    "-a/b", "a/-b", "a/b-", ".a/b",
    "a/b.git",
    "a b/c", "a/b c", "a/b\n", "a/b\t", "acme/tinyé", "a/b\x00",
    "o" * 97 + "/n", "o/" + "n" * 97,
]


def _repo_layers() -> dict[str, Callable[[str], object]]:
    """Every place a repo id enters modelguard, as a call that raises when it is refused."""
    def manifest(repo: str) -> object:
        return parse_manifest(f'[[hf-model]]\nname = "m"\nrepo = {_toml(repo)}\n', source="m.toml")

    def lockfile(repo: str) -> object:
        return parse_lockfile(render_lockfile(_lock(repo=repo)))

    def policy_pin(repo: str) -> object:
        return parse_manifest(f'[[policy.remote-code]]\nrepo = {_toml(repo)}\nfiles = {{ "x.py" = "{H}" }}\n',
                              source="m.toml")

    def validator(repo: str) -> object:
        problem = ids.repo_id_problem(repo)
        if problem:
            raise UsageError(problem)
        return repo

    return {
        "ids": validator,
        "manifest": manifest,
        "lockfile": lockfile,
        "policy": policy_pin,
        "cache": cache.check_repo_id,
        "hub": metadata.validate_repo_id,
        "revocation": lambda repo: revocation.parse_target(f"{repo}@{C}"),
    }


def _toml(value: str) -> str:
    import json

    return json.dumps(value)  # a JSON string is a valid TOML basic string (escapes included)


def _lock(*, repo: str = "acme/tiny", name: str = "tiny", path: str = "config.json", commit: str = C,
          sha256: str = H) -> Lockfile:
    model = LockedHFModel(name, repo, "main", commit, (LockedFile(path, 1, sha256, "lfs-sha256"),), "d" * 64)
    return Lockfile(lock_version=1, created_by="modelguard 0.1.0", manifest_sha256="b" * 64, policy_sha256="e" * 64,
                    hf_models=(model,))


@pytest.mark.parametrize("repo", GOOD_REPOS)
def test_every_layer_accepts_a_hub_repo_id(repo: str) -> None:
    for layer, check in _repo_layers().items():
        try:
            check(repo)
        except ModelguardError as e:  # pragma: no cover - the assertion below names the layer
            pytest.fail(f"{layer} refused {repo!r}: {e}")


@pytest.mark.parametrize("repo", BAD_REPOS)
def test_every_layer_refuses_the_same_repo_ids(repo: str) -> None:
    for layer, check in _repo_layers().items():
        with pytest.raises((UsageError, LockfileError)):
            check(repo)
            pytest.fail(f"{layer} accepted {repo!r}")


@pytest.mark.parametrize("name", ["tiny\n", "tiny ", " tiny", "", "-tiny", "t/iny", "tïny", "x" * 129])
def test_lock_names_are_matched_in_full(name: str) -> None:
    assert ids.entry_name_problem(name)
    with pytest.raises(UsageError):
        parse_manifest(f'[[hf-model]]\nname = {_toml(name)}\nrepo = "acme/tiny"\n', source="m.toml")
    with pytest.raises(LockfileError):
        parse_lockfile(render_lockfile(_lock(name=name)))


@pytest.mark.parametrize("commit", [C + "\n", C.upper(), C[:39], C + "0", "g" * 40, " " + C[1:]])
def test_commits_are_matched_in_full(commit: str) -> None:
    assert not ids.is_commit(commit)
    with pytest.raises(LockfileError):
        cache.check_commit(commit)
    with pytest.raises(IntegrityError):
        metadata.check_commit(commit, "hub")
    with pytest.raises(LockfileError):
        parse_lockfile(render_lockfile(_lock(commit=commit)))
    with pytest.raises(UsageError):  # `modelguard revoke` trims the argument's surrounding blanks first
        revocation.parse_target(f"acme/tiny@{commit.strip() + ('!' if commit != commit.strip() else '')}")


@pytest.mark.parametrize("digest", [H + "\n", H.upper(), H[:63], H + "0", "sha256:" + H])
def test_sha256_digests_are_matched_in_full(digest: str) -> None:
    assert not ids.is_sha256(digest) and not ids.is_blob_name(digest)
    with pytest.raises(LockfileError):
        cache.check_etag(digest)
    with pytest.raises(IntegrityError):
        metadata.check_etag(digest, "hub")
    with pytest.raises(LockfileError):
        parse_lockfile(render_lockfile(_lock(sha256=digest)))
    with pytest.raises(UsageError):
        revocation.parse_target(f"sha256:{digest.strip() + ('!' if digest != digest.strip() else '')}")


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/.", "a\\b", "a\x00b", "",
                                  "a/", "a\nb", "a\x7fb", "a\u202eb", "a\u200bb", "x" * 1025])
def test_repo_paths_are_refused_by_every_layer(path: str) -> None:
    assert ids.repo_path_problem(path)
    with pytest.raises(LockfileError):
        cache.check_relpath(path)
    with pytest.raises(IntegrityError):
        metadata.check_path(path, "hub")
    with pytest.raises(LockfileError):
        parse_lockfile(render_lockfile(_lock(path=path)))


def test_good_paths_pass_every_layer() -> None:
    # The longest path a disk holds: 1024 bytes, no segment over 255 (issue 14: MG-H136/H137 refuse more).
    for path in ("config.json", "onnx/model.onnx", "a b/c d.txt", "données/é.json", ("x" * 254 + "/") * 4 + "abcd"):
        assert ids.repo_path_problem(path) is None
        assert cache.check_relpath(path) == metadata.check_path(path, "hub") == path
        assert parse_lockfile(render_lockfile(_lock(path=path))).hf_models[0].files[0].path == path


def test_scope_and_revocation_target_have_one_rule_each() -> None:
    assert ids.scope_problem("*") is None and ids.scope_problem("acme") is None
    assert ids.scope_problem("acme/tiny") is None
    for bad in ("acme/", "a--b", "acme/tiny\n", "acme/b/c"):
        assert ids.scope_problem(bad)
    assert ids.revocation_target_problem(f"acme/tiny@{C}") is None
    assert ids.revocation_target_problem(f"sha256:{H}") is None
    for bad in ("acme/tiny@main", f"tiny@{C}", f"sha256:{H}\n", f"acme/tiny@{C}\n"):
        assert ids.revocation_target_problem(bad)
    # A policy file's [[policy.revoked]] and `modelguard revoke` agree on what a target is.
    with pytest.raises(UsageError):
        parse_manifest(f'[[policy.revoked]]\ntarget = "tiny@{C}"\nreason = "x"\ndate = 2026-11-01\n', source="m")
    with pytest.raises(UsageError):
        revocation.parse_target(f"tiny@{C}")


def test_the_lock_keeps_refusing_an_entry_edited_after_rendering() -> None:
    """The reader checks what it reads, not what the writer meant: a hand-edited name is refused."""
    text = render_lockfile(replace(_lock(), hf_models=(replace(_lock().hf_models[0], name="tiny"),)))
    with pytest.raises(LockfileError):
        parse_lockfile(text.replace('name = "tiny"', 'name = "tiny\\n"'))
