"""False positives on the real-world corpus: modelguard next to picklescan and modelscan, file by file.

Every file of the corpus ``build.py`` wrote is benign by provenance (a release of a widely used
project), so every verdict other than clean is a false alarm or, for the few files that really
are broken or really do import something risky, a finding to justify (bench/RESULTS.md).

Per tool, each file gets one outcome:
* ``clean`` — scanned and passed;
* ``flagged`` — reported as suspicious or malicious (modelguard: suspicious/malicious;
  picklescan: dangerous imports, what fails its exit code; modelscan: issues). picklescan's
  "suspicious" imports do not fail it and count as clean here (listed in the JSON);
* ``error`` — could not be scanned and said so (modelguard: unscannable; picklescan: scan error;
  modelscan: errors);
* ``skipped`` — not looked at, silently (picklescan: no pickle found; modelscan: not supported).

modelguard runs in this interpreter (the working tree); the peers run in ``--peers-venv``
(``/work/venvs/peers`` by default: ``pip install picklescan modelscan 'numpy==1.26.4'``).

    python bench/realworld/fp_table.py CORPUS [--peers-venv V] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

OUTCOMES = ("clean", "flagged", "error", "skipped")

PEERS = r"""
import json, sys, logging
logging.disable(logging.CRITICAL)
root = sys.argv[1]
files = json.load(open(root + "/manifest.json"))["files"]
out = {"picklescan": {}, "modelscan": {}}
try:
    from picklescan.scanner import scan_file_path
except ImportError:
    scan_file_path = None
try:
    from modelscan.modelscan import ModelScan
except ImportError:
    ModelScan = None
for e in files:
    path = root + "/" + e["file"]
    if scan_file_path is not None:
        try:
            r = scan_file_path(path)
            if r.scan_err:
                v = "error"
            elif r.infected_files or r.issues_count:
                v = "flagged"
            elif r.scanned_files:
                # imports picklescan calls "suspicious" are listed but do not fail its exit code
                v = "clean (suspicious imports listed)" if r.suspicious_count else "clean"
            else:
                v = "skipped"
        except Exception as ex:
            v = "error"
        out["picklescan"][e["file"]] = v
    if ModelScan is not None:
        try:
            res = ModelScan().scan(path)
            s = res.get("summary", {})
            if res.get("issues"):
                v = "flagged"
            elif res.get("errors"):
                v = "error"
            elif s.get("scanned", {}).get("total_scanned", 0):
                v = "clean"
            else:
                v = "skipped"
        except Exception as ex:
            v = "error"
        out["modelscan"][e["file"]] = v
json.dump(out, sys.stdout)
"""


def modelguard_outcomes(root: Path, files: list[dict[str, object]]) -> tuple[dict[str, str], dict[str, str]]:
    """(outcome per file, verdict and first failing finding per non-clean file)."""
    from modelguard.scan import scan_file

    outcomes: dict[str, str] = {}
    why: dict[str, str] = {}
    for e in files:
        rel = str(e["file"])
        r = scan_file(root / rel)
        v = r.verdict.value
        outcomes[rel] = {"clean": "clean", "suspicious": "flagged", "malicious": "flagged"}.get(v, "error")
        if v != "clean":
            first = next(f for f in r.findings if f.severity.value != "info")
            why[rel] = f"{v} ({r.format}): {first.rule} {first.message}"
    return outcomes, why


def peer_outcomes(root: Path, venv: Path) -> dict[str, dict[str, str]]:
    python = venv / "bin" / "python"
    if not python.exists():
        return {}
    proc = subprocess.run([str(python), "-c", PEERS, str(root)], capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"peer scan failed:\n{proc.stderr[-2000:]}")
    result: dict[str, dict[str, str]] = json.loads(proc.stdout)
    return result


def table(tools: dict[str, dict[str, str]], total: int) -> str:
    lines = ["| tool | " + " | ".join(OUTCOMES) + " | not clean |", "|---|" + "---|" * (len(OUTCOMES) + 1)]
    for tool, outcomes in tools.items():
        c = Counter(v.split(" (")[0] for v in outcomes.values())
        not_clean = total - c["clean"]
        lines.append(f"| {tool} | " + " | ".join(str(c[o]) for o in OUTCOMES)
                     + f" | {not_clean} ({100 * not_clean / total:.1f} %) |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--peers-venv", type=Path, default=Path("/work/venvs/peers"))
    ap.add_argument("--json", type=Path, default=None, help="write every file's outcome per tool here")
    args = ap.parse_args()
    manifest = json.loads((args.corpus / "manifest.json").read_text())
    files = manifest["files"]
    mg, why = modelguard_outcomes(args.corpus, files)
    tools = {"modelguard": mg, **peer_outcomes(args.corpus, args.peers_venv)}
    packages = len({e["package"] for e in files})
    print(f"{len(files)} files from {packages} packages\n")
    print(table(tools, len(files)))
    by_package: dict[str, Counter[str]] = {}
    for e in files:
        by_package.setdefault(str(e["package"]), Counter())[mg[str(e["file"])]] += 1
    print("\nmodelguard, not clean:")
    for rel, text in sorted(why.items()):
        print(f"- {rel}: {text}")
    if args.json:
        args.json.write_text(json.dumps({"tools": tools, "modelguard_not_clean": why}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
