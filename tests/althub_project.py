"""A modelguard project driven through the CLI against althub: manifest, lock, fetch, verify, and what they left."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from modelguard.cli import run
from modelguard.spec.lockfile import read_lockfile
from modelguard.spec.types import LockedHFModel
from tests.althub import AltHub
from tests.cache_helpers import only_partials


def safetensors(count: int) -> bytes:
    """A real safetensors file: one F32 tensor of ``count`` values."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [count], "data_offsets": [0, 4 * count]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + struct.pack(f"<{count}f", *(i / 7 for i in range(count)))


CONFIG = b'{"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 8}\n'
VOCAB = b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\n"
WEIGHTS = safetensors(16384)  # 64 KiB, LFS + Xet on althub
TOKENIZER = json.dumps({"version": "1.0", "model": {"vocab": {f"t{i}": i for i in range(1200)}}}).encode()
FILES = {"config.json": CONFIG, "vocab.txt": VOCAB, "model.safetensors": WEIGHTS, "tok/tokenizer.json": TOKENIZER}


@dataclass
class Project:
    hub: AltHub
    root: Path
    token: str | None = None

    @property
    def manifest(self) -> Path:
        return self.root / "modelguard.toml"

    @property
    def lockfile(self) -> Path:
        return self.root / "modelguard.lock"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def write(self, *entries: tuple[str, str, str]) -> None:
        body = "".join(f'\n[[hf-model]]\nname = "{n}"\nrepo = "{r}"\nrevision = "{rev}"\n' for n, r, rev in entries)
        self.manifest.write_text('[policy]\nallowed-orgs = ["acme"]\n' + body)

    def _run(self, *args: str) -> int:
        token = ("--token", self.token) if self.token else ()
        return run(["--endpoint", self.hub.endpoint, *token, *args])

    def lock(self, *args: str) -> int:
        return self._run("lock", "--manifest", str(self.manifest), *args)

    def fetch(self) -> tuple[int, dict[str, object]]:
        out = self.root / "fetch.json"
        code = self._run("fetch", "--lockfile", str(self.lockfile), "--cache-dir", str(self.cache),
                         "--format", "json", "--output", str(out))
        return code, (json.loads(out.read_text()) if out.exists() else {})

    def verify(self, *args: str) -> tuple[int, dict[str, object]]:
        out = self.root / "verify.json"
        code = self._run("verify", "--lockfile", str(self.lockfile), "--cache-dir", str(self.cache),
                         "--format", "json", "--output", str(out), *args)
        return code, (json.loads(out.read_text()) if out.exists() else {})

    def locked(self, name: str) -> LockedHFModel:
        return next(m for m in read_lockfile(str(self.lockfile)).hf_models if m.name == name)

    def admitted(self) -> list[str]:
        """Every file a loader could see in the verified cache (hub/ and the admission records)."""
        out: list[str] = []
        for sub in ("hub", "admissions"):
            base = self.cache / sub
            if base.exists():
                out += sorted(str(p.relative_to(self.cache)) for p in base.rglob("*")
                              if not p.is_dir() or p.is_symlink())
        return out

    def quarantine_empty(self) -> bool:
        q = self.cache / "quarantine"
        return not q.exists() or not any(q.iterdir())

    def only_partials(self) -> bool:
        """Quarantine holds nothing but resumable partial downloads (:func:`tests.cache_helpers.only_partials`)."""
        return only_partials(self.cache)


def rules(report: dict[str, object]) -> set[str]:
    findings = report.get("findings", [])
    assert isinstance(findings, list)
    return {str(f["rule"]) for f in findings}
