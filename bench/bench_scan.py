"""Scan: modelguard vs picklescan (and modelaudit when installed) on a 1 GiB torch checkpoint
(zip and legacy layouts) and on a folder of 1,000 small pickles.

Targets (issue 7): modelguard <= 1.0x picklescan's time on both (same files, same run), >= 50x
faster than modelaudit per file, tensor data never read, peak RSS < 200 MB for any file size.

Two timings per case, tools alternating, medians of ``--repeat`` rounds:

* ``scan_ms``: the scan call alone, inside a fresh child interpreter after the library is
  imported (modelguard ``scan_paths``, picklescan ``scan_file_path``/``scan_directory_path``);
  ``scan_again_ms`` is the median of five more calls in that child (no first-call costs). The
  child also reports its peak RSS (``VmHWM``) and the bytes it read during the first scan
  (``rchar`` of /proc/self/io, before and after), which shows whether tensor data was read;
* ``cli_s``: the whole command (``modelguard scan PATH`` vs ``picklescan -p PATH``), start-up
  included, as a user runs it.

Files are written once and read once before timing, so they sit in the page cache.

Both tools run as users install them: picklescan from its wheel (peers venv), modelguard from
``--mg-venv``, a venv holding modelguard's dependencies with modelguard installed normally
(``pip install .``), never in editable mode: setuptools' editable finder is imported by every
interpreter of its venv at start-up (~20 ms, pathlib and more) and is not what users run. The
working tree is put first on that interpreter's ``PYTHONPATH``, so what is measured is always
the code of this checkout. Without such a venv the running interpreter is used and the output
says ``"modelguard_editable": true``.

The checkpoints are written twice: byte by byte as ``torch.save`` lays them out (one GLOBAL
per tensor, no memo: the analyser's slowest path) and, when torch is importable, by
``torch.save`` itself (memoised imports, as real checkpoints are).

    python bench/bench_scan.py [--size-mib 1024] [--pickles 1000] [--repeat 5] [--keep DIR]
                               [--mg-venv /work/venvs/wheel]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import scan_data
from _util import DEFAULT_MG_VENV, MG_CLI, bench_env, emit, mg_python

CHILD = r"""
import json, os, sys, time

def rchar():
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar")).split()[1])

def peak_rss_mb():
    # VmHWM, not ru_maxrss: Linux carries the parent's pre-exec peak into a child's ru_maxrss
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmHWM")).split()[1]) / 1024

tool, path = sys.argv[1], sys.argv[2]
if tool == "modelguard":
    from modelguard.scan import scan_paths
    # picklescan imports all its scanners up front; import modelguard's for the formats here too
    import modelguard.scan.pickle.scanner, modelguard.scan.zipscan, modelguard.scan.torch_legacy
    def scan():
        return scan_paths([path]).files[0].verdict.value
else:
    from picklescan.scanner import scan_directory_path, scan_file_path
    import logging
    logging.getLogger("picklescan").setLevel(logging.CRITICAL)
    def scan():
        res = (scan_directory_path if os.path.isdir(path) else scan_file_path)(path)
        return f"scanned={res.scanned_files} infected={res.infected_files} err={res.scan_err}"

r0 = rchar()
t0 = time.perf_counter()
verdict = scan()
elapsed = time.perf_counter() - t0
read = rchar() - r0
again = []
for _ in range(5):  # the same scan again in this process: no first-call costs
    t0 = time.perf_counter()
    scan()
    again.append(time.perf_counter() - t0)
print(json.dumps({"scan_s": elapsed, "warm_s": sorted(again)[2], "read_bytes": read, "verdict": verdict,
                  "peak_rss_mb": peak_rss_mb()}))
"""


def child(python: str, tool: str, path: Path, env: dict[str, str]) -> dict[str, object]:
    proc = subprocess.run([python, "-c", CHILD, tool, str(path)], capture_output=True, text=True, check=True,
                          env=env)
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def cli_seconds(argv: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=False, env=env, timeout=1800)
    return time.perf_counter() - t0


def warm(path: Path) -> None:
    files = [path] if path.is_file() else sorted(path.iterdir())
    for f in files:
        with open(f, "rb") as fh:
            while fh.read(1 << 22):
                pass


def cli_env(pycache: Path) -> dict[str, dict[str, str]]:
    return {"modelguard": bench_env(pycache, modelguard=True), "picklescan": bench_env(pycache, modelguard=False)}


def bench_case(path: Path, peers: Path, repeat: int, env: dict[str, dict[str, str]], mg_py: str) -> dict[str, object]:
    warm(path)
    runs: dict[str, list[dict[str, object]]] = {"modelguard": [], "picklescan": []}
    cli: dict[str, list[float]] = {"modelguard": [], "picklescan": []}
    pythons = {"modelguard": mg_py, "picklescan": str(peers / "bin" / "python")}
    argv = {"modelguard": [mg_py, "-c", MG_CLI, "scan", str(path)],
            "picklescan": [str(peers / "bin" / "picklescan"), "-p", str(path)]}
    for tool in runs:  # fills the bytecode cache
        cli_seconds(argv[tool], env[tool])
    for _ in range(repeat):
        for tool in runs:
            runs[tool].append(child(pythons[tool], tool, path, env[tool]))
            cli[tool].append(cli_seconds(argv[tool], env[tool]))
    out: dict[str, object] = {"path_bytes": _size(path)}
    scan_s = {tool: statistics.median(float(r["scan_s"]) for r in runs[tool]) for tool in runs}  # type: ignore[arg-type]
    warm_s = {tool: statistics.median(float(r["warm_s"]) for r in runs[tool]) for tool in runs}  # type: ignore[arg-type]
    cli_s = {tool: statistics.median(cli[tool]) for tool in runs}
    for tool in runs:
        out[tool] = {
            "scan_ms": round(scan_s[tool] * 1e3, 3),
            "scan_again_ms": round(warm_s[tool] * 1e3, 3),
            "cli_s": round(cli_s[tool], 4),
            "peak_rss_mb": round(max(float(r["peak_rss_mb"]) for r in runs[tool]), 1),  # type: ignore[arg-type]
            "read_bytes_during_scan": max(int(r["read_bytes"]) for r in runs[tool]),  # type: ignore[call-overload]
            "verdict": runs[tool][0]["verdict"],
        }
    out["ratio_scan_mg_over_picklescan"] = round(scan_s["modelguard"] / scan_s["picklescan"], 2)
    out["ratio_scan_again_mg_over_picklescan"] = round(warm_s["modelguard"] / warm_s["picklescan"], 2)
    out["ratio_cli_mg_over_picklescan"] = round(cli_s["modelguard"] / cli_s["picklescan"], 2)
    return out


def modelaudit_case(path: Path, modelaudit: Path, files: int, mg_cli_s: float) -> dict[str, object]:
    """modelaudit is slow: one run per case, per-file time compared with modelguard's CLI time."""
    env = {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "NO_ANALYTICS": "1", "NO_COLOR": "1"}
    seconds = cli_seconds([str(modelaudit / "bin" / "modelaudit"), "scan", "--no-cache", "-f", "json", str(path)],
                          env)
    return {"cli_s": round(seconds, 2), "per_file_s": round(seconds / files, 4),
            "modelguard_per_file_s": round(mg_cli_s / files, 4),
            "speedup_mg_vs_modelaudit": round(seconds / mg_cli_s, 1)}


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.iterdir())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--pickles", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--peers-venv", type=Path, default=Path("/work/venvs/peers"))
    ap.add_argument("--modelaudit-venv", type=Path, default=Path("/work/venvs/modelaudit"))
    ap.add_argument("--modelaudit-pickles", type=int, default=50,
                    help="pickles in modelaudit's folder sample (it takes seconds per file); 0 skips it")
    ap.add_argument("--mg-venv", type=Path, default=Path(DEFAULT_MG_VENV),
                    help="venv with modelguard installed normally (not editable); the working tree is imported")
    ap.add_argument("--keep", type=Path, help="write the data here and keep it (reused when present)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mg-bench-scan-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        size = args.size_mib << 20
        cases = {"torch_zip_1gib": base / "checkpoint.pt", "torch_legacy_1gib": base / "checkpoint_legacy.pt",
                 "small_pickles": base / "pickles"}
        if not cases["torch_zip_1gib"].exists():
            scan_data.torch_zip_checkpoint(cases["torch_zip_1gib"], size)
        if not cases["torch_legacy_1gib"].exists():
            scan_data.torch_legacy_checkpoint(cases["torch_legacy_1gib"], size)
        if not cases["small_pickles"].exists():
            scan_data.small_pickles(cases["small_pickles"], args.pickles)
        for name, legacy in (("torch_save_zip_1gib", False), ("torch_save_legacy_1gib", True)):
            path = base / f"{name}.pt"
            if path.exists() or scan_data.torch_saved_checkpoint(path, size, legacy=legacy):
                cases[name] = path
        mg, editable = mg_python(args.mg_venv)
        results: dict[str, object] = {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg(),
                                      "modelguard_python": mg, "modelguard_editable": editable}
        env = cli_env(Path(tmp) / "pycache")
        for name, path in cases.items():
            results[name] = bench_case(path, args.peers_venv, args.repeat, env, mg)
        if (args.modelaudit_venv / "bin" / "modelaudit").exists() and args.modelaudit_pickles:
            # modelaudit takes seconds per file: the folder case uses a sample of the pickles, and
            # modelguard's per-file time on the same sample
            sample = base / f"pickles_sample_{args.modelaudit_pickles}"
            sample.mkdir(exist_ok=True)
            for src in sorted(cases["small_pickles"].iterdir())[: args.modelaudit_pickles]:
                (sample / src.name).write_bytes(src.read_bytes())
            for name, path in [*list(cases.items())[:2], ("small_pickles_sample", sample)]:
                files = args.modelaudit_pickles if path.is_dir() else 1
                mg_cli = statistics.median(cli_seconds([mg, "-c", MG_CLI, "scan", str(path)], env["modelguard"])
                                           for _ in range(5))
                results.setdefault(name, {})
                results[name]["modelaudit"] = modelaudit_case(path, args.modelaudit_venv, files, mg_cli)  # type: ignore[index]
        results["loadavg_at_end"] = os.getloadavg()
        emit(results)


if __name__ == "__main__":
    main()
