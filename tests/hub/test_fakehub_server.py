"""The fake Hub itself: huggingface_hub's own high-level API must work against it unchanged,
so that what tests/hub/test_client.py and tests/hub/test_fakehub_faults.py prove holds for the real protocol.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.fakehub import FakeHub, git_blob_sha1, sha256

ROOT = Path(__file__).resolve().parents[2]
REPO = "acme/tiny"
FILES = {"config.json": b'{"a": 1}', "model.safetensors": b"\x01" * 4096, "sub/dir/vocab.txt": b"a\nb\n"}


def test_model_info_and_tree_as_huggingface_hub_reads_them() -> None:
    with FakeHub(page_size=2) as fake:
        commit = fake.add_repo(REPO, FILES)
        api = HfApi(endpoint=fake.endpoint, token=False)
        info = api.model_info(REPO, files_metadata=True)
        assert info.sha == commit
        siblings = {s.rfilename: s for s in info.siblings or []}
        assert siblings["config.json"].blob_id == git_blob_sha1(FILES["config.json"])
        lfs = siblings["model.safetensors"].lfs
        assert lfs is not None and lfs.sha256 == sha256(FILES["model.safetensors"]) and lfs.size == 4096
        tree = list(api.list_repo_tree(REPO, recursive=True, revision=commit))
        assert sorted(getattr(e, "path", "") for e in tree) == ["config.json", "model.safetensors", "sub",
                                                                 "sub/dir", "sub/dir/vocab.txt"]
        assert len([r for r in fake.requests if "/tree/" in r.path]) == 3  # 5 entries, 2 per page


def test_hf_hub_download_and_snapshot_download_work_unchanged(tmp_path: Path) -> None:
    with FakeHub() as fake:
        commit = fake.add_repo(REPO, FILES)
        got = hf_hub_download(REPO, "model.safetensors", cache_dir=tmp_path, endpoint=fake.endpoint, token=False)
        assert Path(got).read_bytes() == FILES["model.safetensors"]
        folder = Path(snapshot_download(REPO, cache_dir=tmp_path, endpoint=fake.endpoint, token=False))
        assert folder.name == commit
        assert {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == FILES


def test_errors_are_typed_by_x_error_code(tmp_path: Path) -> None:
    with FakeHub() as fake:
        fake.add_repo(REPO, FILES)
        fake.add_repo("acme/gated", FILES, gated=True, tokens=["hf_ok"])
        api = HfApi(endpoint=fake.endpoint, token=False)
        with pytest.raises(RepositoryNotFoundError):
            api.model_info("acme/missing")
        with pytest.raises(RevisionNotFoundError):
            api.model_info(REPO, revision="nope")
        kwargs = {"cache_dir": tmp_path, "endpoint": fake.endpoint}
        with pytest.raises(RemoteEntryNotFoundError):
            hf_hub_download(REPO, "missing.txt", token=False, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(GatedRepoError):
            hf_hub_download("acme/gated", "config.json", token=False, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(GatedRepoError):
            hf_hub_download("acme/gated", "config.json", token="hf_wrong", **kwargs)  # type: ignore[arg-type]
        assert hf_hub_download("acme/gated", "config.json", token="hf_ok", **kwargs)  # type: ignore[arg-type]
        assert all(r.headers.get("authorization") in (None, "<redacted>") for r in fake.requests)


def test_range_requests_are_served() -> None:
    with FakeHub() as fake:
        commit = fake.add_repo(REPO, FILES)
        url = f"{fake.cdn_url}/cdn/{REPO}/{commit}/model.safetensors"
        response = httpx2.get(url, headers={"Range": "bytes=4000-"})
        assert response.status_code == 206
        assert response.headers["Content-Range"] == "bytes 4000-4095/4096" and len(response.content) == 96


def test_a_stopped_hub_refuses_connections() -> None:
    fake = FakeHub().start()
    endpoint = fake.endpoint
    with httpx2.Client() as client:
        assert client.get(f"{endpoint}/api/models/acme/missing").status_code == 404
        fake.stop()
        with pytest.raises(httpx2.TransportError):
            client.get(f"{endpoint}/api/models/acme/missing")


def test_importable_without_pytest_for_the_demo() -> None:
    code = "import sys, tests.fakehub as f; f.FakeHub; assert 'pytest' not in sys.modules, 'pytest imported'"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
