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


def child_peak_rss_mb(code: str, args: Sequence[str] = (), python: str = sys.executable) -> tuple[float, str]:
    """Run ``code`` in a fresh interpreter; return (its peak RSS in MiB, its stdout).

    Peak RSS is the child's ``VmHWM``: ``ru_maxrss`` is not used because Linux carries the
    parent's peak at fork/exec time into the child's, which would report the bench's own memory.
    """
    wrapper = (
        code
        + "\nwith open('/proc/self/status') as _f:\n"
        + "    print('__RSS__', next(l for l in _f if l.startswith('VmHWM')).split()[1])\n"
    )
    proc = subprocess.run([python, "-c", wrapper, *args], capture_output=True, text=True, check=True)
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


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MG_CLI = "import sys; from modelguard.cli import main; sys.exit(main())"

FAKE_HUB_SERVER_PRELUDE = r"""
import json, os, struct, sys
sys.path.insert(0, sys.argv[1])
from modelguard.demo.fakehub import FakeHub, model, server

# The fake re-hashes a file's content on every HEAD and listing; for large files that is seconds of
# server CPU per request, which a real Hub does not spend. Memoised here, server side only.
_plain = model.sha256
_memo = {}
def _sha256(data):
    if len(data) < (1 << 20):
        return _plain(data)
    if id(data) not in _memo:
        _memo[id(data)] = (data, _plain(data))
    return _memo[id(data)][1]
model.sha256 = server.sha256 = _sha256
"""
"""the start of a fake Hub server script the fetch benches run in their own process (argv[1]: the
repository root): the imports, and content hashes memoised so the server's CPU is not the bench's"""
"""what the ``modelguard`` console script runs"""
DEFAULT_MG_VENV = "/work/venvs/wheel"


def mg_python(venv: str | os.PathLike[str]) -> tuple[str, bool]:
    """(interpreter to run modelguard with, whether that is this editable venv's).

    Start-up is measured from a venv with modelguard installed normally (``pip install .``):
    setuptools' editable finder is imported by every interpreter of an editable venv (~20 ms of
    pathlib and more) and is not what users of the wheel run. The working tree goes first on
    that interpreter's PYTHONPATH (:func:`bench_env`), so this checkout's code is measured."""
    python = os.path.join(venv, "bin", "python")
    if os.path.exists(python):
        return python, False
    return sys.executable, True


def bench_env(pycache: str | os.PathLike[str], *, modelguard: bool) -> dict[str, str]:
    """Environment for a timed child: bytecode cached (as installed packages have it; some
    sandboxes set PYTHONDONTWRITEBYTECODE, which would recompile modelguard on every run), and
    for modelguard the working tree first on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    env["PYTHONPYCACHEPREFIX"] = os.fspath(pycache)
    if modelguard:
        env["PYTHONPATH"] = ROOT
    return env
