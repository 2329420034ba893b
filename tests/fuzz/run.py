"""Run every fuzz target with atheris (coverage-guided, libFuzzer) for a bounded time, and report.

    python -m tests.fuzz.run [--seconds 10] [--only pickle,lockfile] [--corpus DIR] [--results FILE]

Each target runs in its own process (libFuzzer exits the process when it stops): its seeds from
:mod:`tests.fuzz.targets` are written to a corpus folder (kept across runs when ``--corpus`` is
given, so campaigns build on each other), modelguard is instrumented as the target imports it,
and libFuzzer runs for ``--seconds`` with a 2 GiB memory cap and a 10 s cap per input (an input
that hangs or eats memory is a finding too). Per target it prints the executions, the executions
per second, the corpus size (inputs and bytes) and any crash.

A crash is saved under ``tests/fuzz/found/<target>/``. The rule: every crash becomes a regression
test. Fix the bug, then move the file to ``tests/fuzz/regressions/<target>/`` with a name that
says what it was; ``tests/fuzz/test_fuzz_targets.py`` replays every file there on each test run.
Exit status: 0 when no target crashed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
FOUND = HERE / "found"
REGRESSIONS = HERE / "regressions"
_STAT = re.compile(r"stat::(\w+):\s+(\d+)")


@dataclass(frozen=True)
class Outcome:
    target: str
    seconds: float
    executions: int
    corpus_inputs: int
    corpus_bytes: int
    crashes: tuple[Path, ...]


def child(name: str, argv: list[str]) -> None:
    """In the fuzzing process: instrument modelguard as the target imports it, then hand over to libFuzzer."""
    import atheris

    from tests.fuzz.targets import TARGETS

    target = TARGETS[name]
    with atheris.instrument_imports(include=["modelguard"]):
        target.seeds()  # imports everything the target touches, under instrumentation
        target.run(b"")
    atheris.Setup([sys.argv[0], *argv], target.run)
    atheris.Fuzz()


def run_target(name: str, seconds: float, corpus: Path) -> Outcome:
    from tests.fuzz.targets import TARGETS

    corpus.mkdir(parents=True, exist_ok=True)
    for seed in TARGETS[name].seeds():
        (corpus / f"seed-{hashlib.sha256(seed).hexdigest()[:16]}").write_bytes(seed)
    crashes = FOUND / name
    crashes.mkdir(parents=True, exist_ok=True)
    before = set(crashes.iterdir())
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", "--child", name, str(corpus),
         f"-max_total_time={max(1, int(seconds))}", "-rss_limit_mb=2048", "-timeout=10", "-max_len=65536",
         "-print_final_stats=1", f"-artifact_prefix={crashes}/", "-close_fd_mask=1"],
        cwd=HERE.parents[1], capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    elapsed = time.monotonic() - started
    stats = {k: int(v) for k, v in _STAT.findall(proc.stderr)}
    found = tuple(sorted(set(crashes.iterdir()) - before))
    if proc.returncode != 0 and not found:
        # libFuzzer stopped without an artifact (a crash in setup): keep its output as the finding.
        log = crashes / f"setup-failure-{int(time.time())}.log"
        log.write_text(proc.stderr[-20000:])
        found = (log,)
    inputs = [p for p in corpus.iterdir() if p.is_file()]
    return Outcome(name, elapsed, stats.get("number_of_executed_units", 0), len(inputs),
                   sum(p.stat().st_size for p in inputs), found)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--child"]:
        child(args[1], args[2:])
        return 0
    from tests.fuzz.targets import TARGETS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", "10")),
                        help="per target (default: $FUZZ_SECONDS, else 10)")
    parser.add_argument("--only", default="", help="comma-separated target names")
    parser.add_argument("--corpus", type=Path, help="corpus root to keep and grow (default: a temporary folder)")
    parser.add_argument("--results", type=Path, help="also write the table (markdown) to this file")
    opts = parser.parse_args(args)
    names = [n for n in opts.only.split(",") if n] or list(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    root = opts.corpus or Path(tempfile.mkdtemp(prefix="modelguard-fuzz-"))
    started = time.monotonic()
    outcomes = []
    for name in names:
        outcome = run_target(name, opts.seconds, root / name)
        outcomes.append(outcome)
        flag = f"  CRASH: {', '.join(str(p) for p in outcome.crashes)}" if outcome.crashes else ""
        print(f"fuzz {name:12s} {outcome.executions:9d} execs {outcome.executions / max(outcome.seconds, 1e-9):8.0f}/s "
              f"corpus {outcome.corpus_inputs:5d} inputs {outcome.corpus_bytes:9d} B{flag}", flush=True)
    if opts.corpus is None:
        shutil.rmtree(root, ignore_errors=True)
    total = time.monotonic() - started
    table = ["| target | executions | exec/s | corpus inputs | corpus bytes | crashes |",
             "|---|---:|---:|---:|---:|---:|"]
    table += [f"| {o.target} | {o.executions} | {o.executions / max(o.seconds, 1e-9):.0f} | {o.corpus_inputs} | "
              f"{o.corpus_bytes} | {len(o.crashes)} |" for o in outcomes]
    if opts.results:
        opts.results.write_text("\n".join(table) + "\n")
    crashed = [o for o in outcomes if o.crashes]
    print(f"fuzz: {len(outcomes)} targets, {sum(o.executions for o in outcomes)} executions in {total:.0f} s; "
          f"{len(crashed)} crashed" + (" (see tests/fuzz/found/; each becomes a regression test)" if crashed else ""))
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
