"""Start-up: ``modelguard --help`` must answer in < 300 ms (issue 7: no heavy import at start-up).

Runs, alternating: the bare interpreter (``python -c pass``, the floor nothing can beat), the
interpreter importing click (the floor of any click command line), ``modelguard --help``,
``modelguard scan --help`` and ``modelguard scan`` of one small pickle (the whole command a
pre-commit hook runs), and prints medians; then the top imports by cumulative time of
``modelguard scan FILE`` and whether a heavy module (huggingface_hub, requests, numpy, torch,
cryptography, tomlkit, ...) was imported by ``--help``.

modelguard runs as the console script does (``from modelguard.cli import main``) from
``--mg-venv``, a venv with modelguard installed normally, the working tree first on its
PYTHONPATH, with bytecode cached (see ``_util.mg_python`` and ``_util.bench_env``).

    python bench/bench_import.py [--repeat 21] [--mg-venv /work/venvs/wheel]
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import tempfile
from pathlib import Path

from _util import DEFAULT_MG_VENV, MG_CLI, bench_env, emit, median_times, mg_python

HEAVY = ("huggingface_hub", "requests", "httpx", "numpy", "torch", "cryptography", "tomlkit", "fickling", "py7zr",
         "lz4", "tqdm")


def run(argv: list[str], env: dict[str, str]) -> None:
    subprocess.run(argv, capture_output=True, check=False, env=env)


def importtime(python: str, args: list[str], env: dict[str, str]) -> tuple[list[tuple[int, int, str]], list[str]]:
    """(cumulative us, self us, module) of every import, largest first; heavy modules imported."""
    proc = subprocess.run([python, "-X", "importtime", "-c", MG_CLI, *args], capture_output=True, text=True,
                          check=False, env=env)
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
    ap.add_argument("--mg-venv", type=Path, default=Path(DEFAULT_MG_VENV))
    args = ap.parse_args()
    python, editable = mg_python(args.mg_venv)
    with tempfile.TemporaryDirectory(prefix="mg-bench-import-") as tmp:
        small = Path(tmp) / "state.pkl"
        small.write_bytes(pickle.dumps({"step": 1, "lr": 1e-3, "loss": [0.5, 0.25]}, protocol=4))
        plain, env = bench_env(Path(tmp) / "pycache", modelguard=False), bench_env(Path(tmp) / "pycache",
                                                                                   modelguard=True)
        cmds = {
            "python -c pass": ([python, "-c", "pass"], plain),
            "python -c 'import click'": ([python, "-c", "import click"], plain),
            "modelguard --help": ([python, "-c", MG_CLI, "--help"], env),
            "modelguard scan --help": ([python, "-c", MG_CLI, "scan", "--help"], env),
            "modelguard scan FILE": ([python, "-c", MG_CLI, "scan", str(small)], env),
        }
        for argv, e in cmds.values():  # fills the bytecode cache
            run(argv, e)
        times = median_times({name: (lambda a=argv, e=e: run(a, e)) for name, (argv, e) in cmds.items()},
                             args.repeat)
        _, heavy = importtime(python, ["--help"], env)
        rows, _ = importtime(python, ["scan", str(small)], env)
    emit({
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "modelguard_python": python,
        "modelguard_editable": editable,
        "median_ms": {k: round(v * 1000, 1) for k, v in times.items()},
        "modelguard_help_over_bare_interpreter_ms": round((times["modelguard --help"] - times["python -c pass"])
                                                          * 1000, 1),
        "target_ms": 300,
        "heavy_modules_imported_by_help": heavy,
        "top_imports_of_scan_cumulative_ms": [f"{cum / 1000:7.1f} (self {own / 1000:5.1f})  {name.strip()}"
                                              for cum, own, name in rows[:14]],
    })


if __name__ == "__main__":
    main()
