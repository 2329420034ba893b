"""A small project for the loader API tests: a manifest, a lock and a verified cache made for real.

The models are served by the loopback fake Hub and locked and fetched through :mod:`modelguard.api`
(the real huggingface_hub client over HTTP), so the tests see what a user's code would see.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelguard import api
from modelguard.demo import artifacts
from tests.fakehub import FakeHub

CLEAN = {"config.json": artifacts.config("bert"), "model.safetensors": artifacts.safetensors({"w": (8, 8)})}
OTHER = {"config.json": artifacts.config("bert", hidden_size=8), "model.safetensors": artifacts.safetensors(
    {"w": (4, 8)}, seed=7)}
EVIL = {"config.json": artifacts.config("bert"),
        "pytorch_model.bin": artifacts.torch_zip(artifacts.command_pickle("echo pwned"))}
LFS = ("model.safetensors", "pytorch_model.bin")


def manifest_text(allowed: str = "acme", extra: str = "") -> str:
    return f"""\
[policy]
allowed-orgs = ["{allowed}"]
fail-on = "medium"

[[hf-model]]
name = "tiny"
repo = "acme/tiny"
revision = "main"

[[hf-model]]
name = "tiny-v1"
repo = "acme/tiny"
revision = "v1"

[[hf-model]]
name = "other"
repo = "acme/other"

[[hf-model]]
name = "evil"
repo = "acme/evil"
{extra}"""


@dataclass(frozen=True)
class Project:
    root: Path
    hub: FakeHub
    commits: dict[str, str]

    @property
    def manifest(self) -> Path:
        return self.root / "modelguard.toml"

    @property
    def lockfile(self) -> Path:
        return self.root / "modelguard.lock"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def snapshot_dir(self, repo: str) -> Path:
        org, name = repo.split("/")
        return self.cache / "hub" / f"models--{org}--{name}" / "snapshots" / self.commits[repo]

    def lock(self) -> None:
        api.lock(self.manifest, endpoint=self.hub.endpoint, token="")

    def fetch(self) -> None:
        api.fetch(self.lockfile, cache_dir=self.cache, endpoint=self.hub.endpoint, token="")


def make_project(root: Path, hub: FakeHub) -> Project:
    commits = {
        "acme/tiny": hub.add_repo("acme/tiny", CLEAN, tags=["v1"], lfs=LFS),
        "acme/other": hub.add_repo("acme/other", OTHER, lfs=LFS),
        "acme/evil": hub.add_repo("acme/evil", EVIL, lfs=LFS),
    }
    project = Project(root, hub, commits)
    project.manifest.write_text(manifest_text(), encoding="utf-8")
    return project
