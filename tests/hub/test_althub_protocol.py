"""althub speaks what the real huggingface_hub 2.4 client expects: its own API calls work against it.

This checks the independent loopback Hub itself (tests/althub), so the modelguard tests built on it
test the client against something the real client accepts, not against our own assumptions.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.althub import AltHub, blob_sha1, sha256

CONFIG = b'{"model_type": "bert", "hidden_size": 4}\n'
WEIGHTS = bytes(range(256)) * 64  # 16 KiB: LFS (and Xet) on althub
FILES = {"config.json": CONFIG, "model.safetensors": WEIGHTS, "sub/dir/vocab.txt": b"a\nb\n"}


def test_real_client_reads_model_info_tree_and_files(althub: AltHub, tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    commit = althub.add("acme/tiny", FILES)
    althub.repos["acme/tiny"].tags["v1.0/rc1"] = commit
    api = HfApi(endpoint=althub.endpoint, token=False)
    info = api.model_info("acme/tiny", revision="v1.0/rc1", files_metadata=True)
    assert info.sha == commit
    by_name = {s.rfilename: s for s in info.siblings or []}
    assert by_name["model.safetensors"].lfs is not None
    assert by_name["model.safetensors"].lfs.sha256 == sha256(WEIGHTS)
    assert by_name["config.json"].blob_id == blob_sha1(CONFIG) and by_name["config.json"].lfs is None
    tree = list(api.list_repo_tree("acme/tiny", revision=commit, recursive=True))
    files = {e.path: e for e in tree if hasattr(e, "size") and hasattr(e, "lfs")}
    assert set(files) == set(FILES)
    # hf_hub_download in a fresh interpreter: HF_HUB_DISABLE_XET is read when huggingface_hub is first
    # imported, which in this process may have happened before (althub does not speak Xet).
    script = ("import sys; from huggingface_hub import hf_hub_download as d; "
              "print(d('acme/tiny', sys.argv[1], revision='v1.0/rc1', endpoint=sys.argv[2], token=False, "
              "cache_dir=sys.argv[3]))")
    env = {**os.environ, "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    for name in ("config.json", "model.safetensors"):
        done = subprocess.run([sys.executable, "-c", script, name, althub.endpoint, str(tmp_path / "hf")], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert Path(done.stdout.strip()).read_bytes() == FILES[name]
    assert not any(auth for role, _, _, auth in althub.requests("cdn"))


def test_tree_is_paginated_by_cursor_links(althub: AltHub) -> None:
    from huggingface_hub import HfApi

    many = {f"shard/{i:04d}.txt": b"%d\n" % i for i in range(2503)}
    commit = althub.add("acme/many", many)
    listed = list(HfApi(endpoint=althub.endpoint, token=False).list_repo_tree("acme/many", revision=commit,
                                                                                recursive=True))
    assert {e.path for e in listed} == {*many, "shard"}
    pages = [p for _, _, p, _ in althub.requests("hub") if "/tree/" in p]
    assert len(pages) == 3 and "cursor=" in pages[1]


def test_gated_and_private_answers_match_the_hub(althub: AltHub) -> None:
    import huggingface_hub.errors as hf_errors
    from huggingface_hub import HfApi, hf_hub_download

    althub.add("acme/gated", FILES, gated=True, readers=("hf_reader",))
    althub.add("acme/private", FILES, private=True, readers=("hf_reader",))
    anonymous = HfApi(endpoint=althub.endpoint, token=False)
    assert anonymous.model_info("acme/gated").sha  # metadata of a gated repo is public
    with pytest.raises(hf_errors.GatedRepoError):
        hf_hub_download("acme/gated", "config.json", endpoint=althub.endpoint, token=False)
    with pytest.raises(hf_errors.RepositoryNotFoundError):
        anonymous.model_info("acme/private")
    with pytest.raises(hf_errors.RepositoryNotFoundError):
        anonymous.model_info("acme/nothing-here")
    with pytest.raises(hf_errors.RevisionNotFoundError):
        anonymous.model_info("acme/gated", revision="nope")
    assert HfApi(endpoint=althub.endpoint, token="hf_reader").model_info("acme/private").sha
