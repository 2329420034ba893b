"""Detection: modelguard, picklescan and modelscan over the labelled corpus of ``corpus.py``.

Each tool's CLI is run once per sample (each sample sits alone in its own folder), and its verdict
is read from its exit code, the way a CI gate would read it:

* modelguard: 0 clean, 1 findings at or above the default fail-on (medium), 2/3/70 error;
* picklescan: 0 clean, 1 dangerous globals, 2 scan error (its "suspicious" globals exit 0);
* modelscan:  read from its JSON report: issues -> flagged, errors -> error, nothing scanned (the
  extension is not routed to any scanner, or its reader skipped the file) -> ``skipped``;
* modelaudit (when ``--modelaudit-venv`` has it): 0 clean, 1 issues, 2 error; telemetry off.

Detection table: detected / missed (of which skipped) / errors on malicious samples, false
positives / errors on benign ones, and seconds (sum of per-file runs, and one run over the whole
corpus folder, which is how users run them). Peers run from their own venv (``--peers-venv``,
default /work/venvs/peers: ``pip install picklescan modelscan``).

    python bench/bench_detection.py [--peers-venv DIR] [--details] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import corpus

FLAGGED, CLEAN, ERROR, SKIPPED = "flagged", "clean", "error", "skipped"


@dataclass
class Tool:
    name: str
    argv: Callable[[Path, Path], list[str]]
    """(path to scan, report file) -> command line"""
    classify: Callable[[subprocess.CompletedProcess[str], Path], tuple[str, str]]
    """(finished run, report file) -> (outcome, the line that explains it)"""
    env: dict[str, str] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    per_file_s: float = 0.0
    folder_s: float = 0.0


def _last_lines(proc: subprocess.CompletedProcess[str], keys: tuple[str, ...]) -> str:
    lines = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    picked = [ln for ln in lines if any(k in ln for k in keys)]
    return " | ".join(picked[:2])[:200] if picked else (lines[-1][:160] if lines else "")


def _modelguard(proc: subprocess.CompletedProcess[str], report: Path) -> tuple[str, str]:
    outcome = {0: CLEAN, 1: FLAGGED}.get(proc.returncode, ERROR)
    try:
        entry = json.loads(proc.stdout)["files"][0]
        rules = ",".join(sorted({f["rule"] for f in entry["findings"]}))
        return outcome, f"{entry['format']} {entry['verdict']} {rules}".strip()
    except (ValueError, KeyError, IndexError):
        return outcome, _last_lines(proc, ("rror",))


def _picklescan(proc: subprocess.CompletedProcess[str], report: Path) -> tuple[str, str]:
    outcome = {0: CLEAN, 1: FLAGGED}.get(proc.returncode, ERROR)
    return outcome, _last_lines(proc, ("FOUND", "could not parse", "Invalid", "rror", "Unhandled"))


def _modelscan(proc: subprocess.CompletedProcess[str], report: Path) -> tuple[str, str]:
    """From its JSON report: issues -> flagged, errors -> error, nothing scanned -> skipped."""
    try:
        doc = json.loads(report.read_text())
    except (OSError, ValueError):
        return ERROR, _last_lines(proc, ("rror", "Traceback"))
    if doc.get("issues"):
        issue = doc["issues"][0]
        return FLAGGED, f"{issue.get('severity')}: {issue.get('description')}"
    if doc.get("errors"):
        return ERROR, "; ".join(e.get("description", "") for e in doc["errors"])[:200]
    if not doc.get("summary", {}).get("scanned", {}).get("total_scanned"):
        return SKIPPED, "nothing scanned (no scanner for the extension, or its reader skipped the file)"
    return CLEAN, "no issues"


def _modelaudit(proc: subprocess.CompletedProcess[str], report: Path) -> tuple[str, str]:
    outcome = {0: CLEAN, 1: FLAGGED}.get(proc.returncode, ERROR)
    try:
        issues = json.loads(report.read_text()).get("issues", [])
    except (OSError, ValueError):
        return outcome, _last_lines(proc, ("rror",))
    worst = [i for i in issues if i.get("severity") in ("critical", "warning")]
    note = worst[0]["message"] if worst else (issues[0]["message"] if issues else "no issues")
    return outcome, str(note)[:200]


def tools(peers: Path, modelaudit: Path | None) -> list[Tool]:
    mg = [sys.executable, "-m", "modelguard"]
    found = [
        Tool("modelguard", lambda p, r: [*mg, "scan", "--format", "json", str(p)], _modelguard),
        Tool("picklescan", lambda p, r: [str(peers / "bin" / "picklescan"), "-p", str(p)], _picklescan),
        Tool("modelscan", lambda p, r: [str(peers / "bin" / "modelscan"), "-p", str(p), "-r", "json",
                                        "-o", str(r)], _modelscan),
    ]
    if modelaudit is not None and (modelaudit / "bin" / "modelaudit").exists():
        found.append(Tool(
            "modelaudit",
            lambda p, r: [str(modelaudit / "bin" / "modelaudit"), "scan", "--no-cache", "-f", "json", "-o", str(r),
                          str(p)],
            _modelaudit,
            # its telemetry retries an unreachable host for seconds per run: off, so time is the scan's
            env={"PROMPTFOO_DISABLE_TELEMETRY": "1", "NO_ANALYTICS": "1"},
        ))
    return found


def run_tool(tool: Tool, written: Sequence[tuple[Path, corpus.Sample]], root: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", **tool.env}
    with tempfile.TemporaryDirectory(prefix=f"mg-bench-{tool.name}-") as reports:
        for i, (path, _sample) in enumerate(written):
            report = Path(reports) / f"{i}.json"
            t0 = time.perf_counter()
            proc = subprocess.run(tool.argv(path, report), capture_output=True, text=True, env=env, cwd=reports,
                                  check=False)
            tool.per_file_s += time.perf_counter() - t0
            tool.results[str(path)], tool.notes[str(path)] = tool.classify(proc, report)
        t0 = time.perf_counter()
        subprocess.run(tool.argv(root, Path(reports) / "all.json"), capture_output=True, text=True, env=env,
                       cwd=reports, check=False)
        tool.folder_s = time.perf_counter() - t0


def table(all_tools: Sequence[Tool], written: Sequence[tuple[Path, corpus.Sample]]) -> list[dict[str, object]]:
    rows = []
    n_mal = sum(s.malicious for _, s in written)
    n_ok = len(written) - n_mal
    for tool in all_tools:
        res = [(tool.results[str(p)], s) for p, s in written]
        rows.append({
            "tool": tool.name,
            "detected": sum(r == FLAGGED for r, s in res if s.malicious),
            "missed": sum(r in (CLEAN, SKIPPED) for r, s in res if s.malicious),
            "missed_skipped_by_extension": sum(r == SKIPPED for r, s in res if s.malicious),
            "errors_on_malicious": sum(r == ERROR for r, s in res if s.malicious),
            "false_positives": sum(r == FLAGGED for r, s in res if not s.malicious),
            "errors_on_benign": sum(r == ERROR for r, s in res if not s.malicious),
            "skipped_benign": sum(r == SKIPPED for r, s in res if not s.malicious),
            "seconds_per_file_runs": round(tool.per_file_s, 2),
            "seconds_folder_run": round(tool.folder_s, 2),
            "malicious_samples": n_mal,
            "benign_samples": n_ok,
        })
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    n_mal, n_ok = rows[0]["malicious_samples"], rows[0]["benign_samples"]
    print(f"corpus: {n_mal} malicious, {n_ok} benign samples\n")
    head = ("tool", "detected", "missed (skipped)", "errors/mal", "false pos.", "errors/benign", "s per-file",
            "s folder")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(f"| {r['tool']} | {r['detected']}/{n_mal} | {r['missed']} ({r['missed_skipped_by_extension']}) | "
              f"{r['errors_on_malicious']} | {r['false_positives']}/{n_ok} | {r['errors_on_benign']} | "
              f"{r['seconds_per_file_runs']} | {r['seconds_folder_run']} |")


def details(all_tools: Sequence[Tool], written: Sequence[tuple[Path, corpus.Sample]], *, everything: bool) -> None:
    """One line per sample where the tools disagree or one is wrong (every sample with --all)."""
    print("\nper-sample results (✓ right, ✗ wrong, E error, S skipped: nothing scanned):")
    for path, sample in written:
        marks = []
        wrong = False
        for tool in all_tools:
            r = tool.results[str(path)]
            right = (r == FLAGGED) if sample.malicious else (r in (CLEAN, SKIPPED))
            wrong |= not right
            marks.append(f"{tool.name}={'S' if r == SKIPPED else 'E' if r == ERROR else '✓' if right else '✗'}")
        if wrong or everything:
            label = "MAL" if sample.malicious else "ok "
            print(f"{label} {sample.kind:42s} {Path(sample.name).name:36s} {' '.join(marks)}"
                  + (" (renamed)" if sample.renamed else ""))
            for tool in all_tools:
                r = tool.results[str(path)]
                right = (r == FLAGGED) if sample.malicious else (r in (CLEAN, SKIPPED))
                if not right:
                    print(f"      {tool.name}: {r}: {tool.notes[str(path)]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers-venv", type=Path, default=Path("/work/venvs/peers"))
    ap.add_argument("--modelaudit-venv", type=Path, default=Path("/work/venvs/modelaudit"),
                    help="venv with `pip install modelaudit` (skipped when absent)")
    ap.add_argument("--all", action="store_true", help="print every sample, not only disagreements")
    ap.add_argument("--only", nargs="*", help="run only these tools")
    ap.add_argument("--json", type=Path, help="also write the table and per-sample results as JSON")
    args = ap.parse_args()
    all_tools = [t for t in tools(args.peers_venv, args.modelaudit_venv) if not args.only or t.name in args.only]
    with tempfile.TemporaryDirectory(prefix="mg-bench-corpus-") as tmp:
        root = Path(tmp)
        written = corpus.write(root)
        for tool in all_tools:
            run_tool(tool, written, root)
        rows = table(all_tools, written)
        print_table(rows)
        details(all_tools, written, everything=args.all)
        if args.json:
            samples = [{"name": s.name, "kind": s.kind, "malicious": s.malicious, "renamed": s.renamed,
                        **{t.name: t.results[str(p)] for t in all_tools}} for p, s in written]
            args.json.write_text(json.dumps({"table": rows, "samples": samples}, indent=2))


if __name__ == "__main__":
    main()
