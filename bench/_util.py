"""Shared helpers for the benchmarks: median timing of alternating runs and peak RSS of a child."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence


def median_times(funcs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Run each function ``repeat`` times, alternating between them, and return median seconds."""
    samples: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(repeat):
        for name, fn in funcs.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) for name, v in samples.items()}


def child_peak_rss_mb(code: str, args: Sequence[str] = ()) -> tuple[float, str]:
    """Run ``code`` in a fresh interpreter; return (peak RSS in MiB, stdout)."""
    wrapper = (
        "import resource, sys\n"
        + code
        + "\nprint('__RSS__', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True, check=True)
    rss_kb = 0
    out = []
    for line in proc.stdout.splitlines():
        if line.startswith("__RSS__"):
            rss_kb = int(line.split()[1])
        else:
            out.append(line)
    return rss_kb / 1024, "\n".join(out)


def make_file(path: str, size: int) -> None:
    """A file of ``size`` pseudo-random bytes (incompressible, so nothing can shortcut it)."""
    if os.path.exists(path) and os.path.getsize(path) == size:
        return
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        written = 0
        while written < size:
            n = min(len(block), size - written)
            f.write(block[:n])
            written += n


def emit(results: dict[str, object]) -> None:
    print(json.dumps(results, indent=2))
