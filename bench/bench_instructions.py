"""Scan cost in CPU instructions (callgrind): modelguard vs picklescan, independent of machine load.

Millisecond timings of a single scan call move by ±50 % on a shared machine; the number of
instructions a scan executes does not. For each file of ``bench_scan.py``'s data (``--data``,
the folder its ``--keep`` wrote) and each tool, a fresh interpreter runs under
``valgrind --tool=callgrind`` twice: once importing the scanner only, once importing it and
scanning the file once (a first call, as a command line does). The difference is the scan's
instruction count. modelguard runs as in the other benches (``--mg-venv``, working tree on
PYTHONPATH, bytecode cached); picklescan from the peers venv.

    python bench/bench_instructions.py --data /work/benchdata [--mg-venv /work/venvs/wheel]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
from pathlib import Path

from _util import DEFAULT_MG_VENV, bench_env, emit, mg_python

CHILD = {
    "modelguard": """
import sys
from modelguard.scan import scan_paths
import modelguard.scan.pickle.scanner, modelguard.scan.zipscan, modelguard.scan.torch_legacy
if sys.argv[1] == "1":
    scan_paths([sys.argv[2]])
""",
    "picklescan": """
import logging, os, sys
from picklescan.scanner import scan_directory_path, scan_file_path
logging.getLogger("picklescan").setLevel(logging.CRITICAL)
if sys.argv[1] == "1":
    (scan_directory_path if os.path.isdir(sys.argv[2]) else scan_file_path)(sys.argv[2])
""",
}
CASES = ("checkpoint.pt", "torch_save_zip_1gib.pt", "checkpoint_legacy.pt", "torch_save_legacy_1gib.pt", "pickles")


def instructions(python: str, code: str, scan: bool, path: Path, env: dict[str, str], out: Path) -> int:
    proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", python, "-c", code,
                           "1" if scan else "0", str(path)], capture_output=True, text=True, env=env, check=True)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if found is None:
        raise SystemExit(f"no callgrind summary:\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="folder written by bench_scan.py --keep")
    ap.add_argument("--mg-venv", type=Path, default=Path(DEFAULT_MG_VENV))
    ap.add_argument("--peers-venv", type=Path, default=Path("/work/venvs/peers"))
    args = ap.parse_args()
    mg, editable = mg_python(args.mg_venv)
    pythons = {"modelguard": mg, "picklescan": str(args.peers_venv / "bin" / "python")}
    results: dict[str, object] = {"loadavg": os.getloadavg(), "modelguard_editable": editable}
    with tempfile.TemporaryDirectory(prefix="mg-bench-instr-") as tmp:
        out = Path(tmp) / "callgrind.out"
        # A fixed hash seed: set and dict layouts (and so instruction counts) vary with it run to run.
        envs = {"modelguard": {**bench_env(Path(tmp) / "pycache", modelguard=True), "PYTHONHASHSEED": "0"},
                "picklescan": {**bench_env(Path(tmp) / "pycache", modelguard=False), "PYTHONHASHSEED": "0"}}
        for tool, python in pythons.items():  # fills the bytecode cache
            subprocess.run([python, "-c", CHILD[tool], "0", "."], env=envs[tool], capture_output=True, check=True)
        for case in CASES:
            path = args.data / case
            if not path.exists():
                continue
            counts = {tool: instructions(python, CHILD[tool], True, path, envs[tool], out)
                      - instructions(python, CHILD[tool], False, path, envs[tool], out)
                      for tool, python in pythons.items()}
            results[case] = {"modelguard_minstr": round(counts["modelguard"] / 1e6, 2),
                             "picklescan_minstr": round(counts["picklescan"] / 1e6, 2),
                             "ratio_mg_over_picklescan": round(counts["modelguard"] / counts["picklescan"], 2)}
    emit(results)


if __name__ == "__main__":
    main()
