"""The bench scripts still run: each, on tiny data, exits 0 and prints its figures.

No timing is asserted (figures are for bench/RESULTS.md, measured on purpose, not in tests).
This only keeps the scripts from rotting when the code they import moves, as bench_fetch.py did
when the fake Hub moved into the package. bench_scan.py and the peer columns of
bench_detection.py need the peers' venvs (picklescan, modelscan), which CI does not install.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def _json(script: str, *args: str) -> dict[str, Any]:
    proc = _run(script, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_bench_fetch_runs(tmp_path: Path) -> None:
    out = _json("bench_fetch.py", "--size-mib", "4", "--repeat", "1", "--dir", str(tmp_path))
    run = out["runs"][0]
    assert set(run["median_s"]) == {"hf_hub_download", "plain GET", "modelguard"}
    assert run["ratio_modelguard_over_plain_get"] > 0


def test_bench_mirror_runs(tmp_path: Path) -> None:
    from tests.mirror.registry import registry_binary

    registry_binary()  # the bench runs the real registry: fails under CI when missing, skips elsewhere
    out = _json("bench_mirror.py", "--size-mib", "4", "--repeat", "1", "--caches", "2", "--dir", str(tmp_path))
    assert out["ratio_modelguard_fetch_over_plain_get"] > 0
    assert set(out["concurrent_2"]) == {"plain GET", "GET + sha256", "modelguard fetch"}


def test_bench_lock_runs() -> None:
    out = _json("bench_lock.py", "--files", "40", "--small", "2", "--repeat", "1")
    assert out["files_pinned_in_lock"] == 42 and out["modelguard_lock_median_s"] > 0


def test_bench_hash_runs() -> None:
    out = _json("bench_hash.py", "--size-mib", "4", "--files", "2", "--repeat", "1")
    assert out["one_file"]["ratio_vs_single_core"] > 0 and out["snapshot"]["files"] == 2


def test_bench_import_runs() -> None:
    out = _json("bench_import.py", "--repeat", "2")
    assert out["heavy_modules_imported_by_help"] == []
    assert set(out["median_ms"]) >= {"python -c pass", "modelguard --help", "modelguard scan FILE"}


def test_bench_detection_runs_for_modelguard(tmp_path: Path) -> None:
    proc = _run("bench_detection.py", "--only", "modelguard", "--json", str(tmp_path / "d.json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "modelguard" in proc.stdout


def test_diff_scan_runs() -> None:
    """The working tree against HEAD (exit 1 only means uncommitted scanner changes differ)."""
    proc = _run("diff_scan.py", "--base", "HEAD", "--mutants", "40")
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["base"] == "HEAD" and summary["files"] > 100
