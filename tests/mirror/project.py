"""A publisher and a fleet machine, as folders: the same lock and manifest, each with its own cache."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.spec.types import LockedHFModel
from tests.cache_helpers import publish, write_project
from tests.fakehub import FakeHub


def safetensors(count: int, fill: bytes = b"\x01\x00\x80\x3f") -> bytes:
    """A valid safetensors file holding one float32 tensor of ``count`` values."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [count], "data_offsets": [0, 4 * count]}}).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + fill * count


WEIGHTS = safetensors(12_000)
FILES = {"model.safetensors": WEIGHTS, "config.json": b'{"hidden": 4}\n', "sub/vocab.txt": b"a\nb\n"}
OTHER = {"model.safetensors": safetensors(9_000, b"\x02\x00\x80\x3f"), "config.json": b'{"hidden": 8}\n'}


@dataclass
class Machine:
    folder: Path

    @property
    def lock(self) -> Path:
        return self.folder / "modelguard.lock"

    @property
    def manifest(self) -> Path:
        return self.folder / "modelguard.toml"

    @property
    def cache(self) -> Path:
        return self.folder / "cache"

    def add_mirror(self, url: str, *, fallback: str = "none") -> None:
        """Append a [mirror] table: the lock stays fresh (the mirror is not part of manifest-sha256)."""
        with open(self.manifest, "a") as f:
            f.write(f'\n[mirror]\nurl = "{url}"\nplain-http = true\nfallback = "{fallback}"\n')

    def cli(self, capsys: pytest.CaptureFixture[str], *args: str, endpoint: str = "http://127.0.0.1:9") \
            -> tuple[int, str, str]:
        capsys.readouterr()
        code = run(["--endpoint", endpoint, *args])
        got = capsys.readouterr()
        return code, got.out, got.err

    def fetch(self, capsys: pytest.CaptureFixture[str], *args: str, endpoint: str = "http://127.0.0.1:9") \
            -> tuple[int, dict, str]:
        code, out, err = self.cli(capsys, "fetch", "--lockfile", str(self.lock), "--cache-dir", str(self.cache),
                                  "--format", "json", *args, endpoint=endpoint)
        return code, json.loads(out) if out.strip() else {}, err

    def push(self, capsys: pytest.CaptureFixture[str], to: str, *args: str) -> tuple[int, dict, str]:
        code, out, err = self.cli(capsys, "push", "--to", to, "--plain-http", "--lockfile", str(self.lock),
                                  "--cache-dir", str(self.cache), "--format", "json", *args)
        return code, json.loads(out) if out.strip() else {}, err

    def verify(self, capsys: pytest.CaptureFixture[str]) -> int:
        return self.cli(capsys, "verify", "--lockfile", str(self.lock), "--cache-dir", str(self.cache))[0]

    def copy_to(self, folder: Path) -> Machine:
        """Another machine of the fleet: the committed lock and manifest, an empty cache."""
        folder.mkdir(parents=True)
        for name in ("modelguard.lock", "modelguard.toml", "modelguard.lock.sig"):
            if (self.folder / name).exists():
                shutil.copy(self.folder / name, folder / name)
        return Machine(folder)


def publisher(hub: FakeHub, folder: Path, models: dict[str, tuple[str, dict[str, bytes]]]) -> tuple[
        Machine, list[LockedHFModel]]:
    """Publish ``models`` (name -> (repo, files)) on the fake Hub and write the project that locks them."""
    folder.mkdir(parents=True, exist_ok=True)
    locked = [publish(hub, name, repo, files, lfs=["model.safetensors"]) for name, (repo, files) in models.items()]
    write_project(folder, locked)
    return Machine(folder), locked


def cache_files(cache: Path) -> list[str]:
    out = []
    for sub in ("hub", "admissions"):
        if (cache / sub).exists():
            out += sorted(str(p.relative_to(cache)) for p in (cache / sub).rglob("*") if not p.is_dir())
    return out
