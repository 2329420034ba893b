"""Locate ../shared/corpus_real (real benign files from public repositories) beside the checkout.

CI lays a copy of shared/ beside the clone. When it cannot be found the tests that use it FAIL
with a message saying where it was looked for: a missing corpus must never pass as a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
_CANDIDATES = [
    Path(os.environ["MODELGUARD_SHARED_CORPUS"]) if os.environ.get("MODELGUARD_SHARED_CORPUS") else None,
    _ROOT.parent / "shared" / "corpus_real",
    _ROOT.parent.parent / "shared" / "corpus_real",  # a git worktree one level deeper
    Path("/work/shared/corpus_real"),
]
CORPUS: Path | None = next((p for p in _CANDIDATES if p is not None and p.is_dir()), None)
MISSING = Path("shared-corpus-not-found")


def corpus_files(subdir: str, pattern: str = "*") -> list[Path]:
    """Files of the shared corpus, or ``[MISSING]`` so the parametrised test runs and fails."""
    if CORPUS is None:
        return [MISSING]
    return sorted(p for p in (CORPUS / subdir).glob(pattern) if p.is_file()) or [MISSING]


def require(path: Path) -> Path:
    if path == MISSING or not path.exists():
        looked = ", ".join(str(p) for p in _CANDIDATES if p is not None)
        raise AssertionError(f"shared corpus not found (looked in: {looked}); set MODELGUARD_SHARED_CORPUS")
    return path
