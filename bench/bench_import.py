"""Start-up: ``modelguard --help`` must answer in < 300 ms (issue 7: no heavy import at start-up).

Runs, alternating, ``modelguard --help`` (the console script), ``python -m modelguard --help`` and
the bare interpreter (``python -c pass``, the floor nothing can beat), and prints medians; then
the top imports by cumulative time from ``python -X importtime -m modelguard --help`` and whether
a heavy module (huggingface_hub, requests, numpy, torch, cryptography, tomlkit) was imported.

    python bench/bench_import.py [--repeat 21]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from _util import emit, median_times

HEAVY = ("huggingface_hub", "requests", "httpx", "numpy", "torch", "cryptography", "tomlkit", "fickling", "py7zr",
         "lz4", "tqdm")


def run(argv: list[str]) -> None:
    subprocess.run(argv, capture_output=True, check=True)


def importtime(argv: list[str]) -> tuple[list[tuple[int, int, str]], list[str]]:
    """(cumulative us, self us, module) of every import, largest first; heavy modules imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, check=True)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        rows.append((int(cum_us), int(self_us), name))
    heavy = sorted({name.strip() for _, _, name in rows if name.strip().split(".")[0] in HEAVY})
    return sorted(rows, reverse=True), heavy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=21)
    args = ap.parse_args()
    script = str(Path(sys.executable).with_name("modelguard"))
    times = median_times({
        "python -c pass": lambda: run([sys.executable, "-c", "pass"]),
        "modelguard --help": lambda: run([script, "--help"]),
        "python -m modelguard --help": lambda: run([sys.executable, "-m", "modelguard", "--help"]),
        "modelguard scan --help": lambda: run([script, "scan", "--help"]),
    }, args.repeat)
    rows, heavy = importtime(["-m", "modelguard", "--help"])
    emit({
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "median_ms": {k: round(v * 1000, 1) for k, v in times.items()},
        "modelguard_over_bare_interpreter_ms": round((times["modelguard --help"] - times["python -c pass"]) * 1000, 1),
        "target_ms": 300,
        "heavy_modules_imported_by_help": heavy,
        "top_imports_cumulative_ms": [f"{cum / 1000:7.1f} (self {own / 1000:5.1f})  {name.strip()}"
                                      for cum, own, name in rows[:12]],
    })


if __name__ == "__main__":
    main()
