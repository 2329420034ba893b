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


def test_bench_fetch_sharded_runs(tmp_path: Path) -> None:
    out = _json("bench_fetch.py", "--case", "sharded", "--shape", "2x1@0", "--repeat", "2", "--dir", str(tmp_path))
    (case,) = out["cases"]
    assert case["ratio_median"] > 0 and case["modelguard fetch"]["peak_rss_mb"] > 0
    assert case["ratio_paired"]["modelguard_faster_rounds"].endswith("/2")


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


def test_realworld_fp_table_runs_on_a_tiny_corpus(tmp_path: Path) -> None:
    """The corpus builder needs PyPI; the table script runs on any manifest (peers absent here)."""
    files = tmp_path / "files" / "demo"
    files.mkdir(parents=True)
    (files / "sys.dic").write_bytes(b"\xc4\x38\x9f\xed" + bytes(range(256)) * 8)
    (files / "model.pkl").write_bytes(b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00echoq\x01\x85R.")
    manifest = {"files": [{"package": "demo", "version": "1", "file": f"files/demo/{n}", "path": n}
                          for n in ("sys.dic", "model.pkl")]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "realworld" / "fp_table.py"), str(tmp_path),
                           "--peers-venv", str(tmp_path / "no-venv")], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| modelguard | 1 | 1 | 0 | 0 | 1 (50.0 %) |" in proc.stdout
    assert "files/demo/model.pkl: malicious" in proc.stdout


def test_realworld_builder_keeps_model_like_files_by_content() -> None:
    sys.path.insert(0, str(ROOT / "bench" / "realworld"))
    try:
        import build
    finally:
        sys.path.pop(0)
    assert build.model_like("pkg/data/weights.bin", b"\x00\x01\x02")
    assert build.model_like("pkg/templates/chat.jinja", b"{{ messages }}")
    assert not build.model_like("pkg/module.py", b"\x00")  # source, whatever its bytes
    assert not build.model_like("pkg/lib.so", b"\x7fELF\x02\x01")
    assert not build.model_like("pkg/logo.png", b"\x89PNG\r\n\x1a\n\x00")
    assert not build.model_like("pkg/README.md", b"# readme")
    assert not build.model_like("pkg-1.0.dist-info/RECORD", b"\x00")


def test_bench_verify_runs(tmp_path: Path) -> None:
    out = _json("bench_verify.py", "--size-mib", "4", "--repeat", "1", "--dir", str(tmp_path))
    assert set(out["median_s"]) == {"verify", "verify_without_rescan", "sha256_alone", "scan_alone"}
    assert out["ratio_verify_over_verify_without_rescan"] > 0 and list(tmp_path.iterdir()) == []
