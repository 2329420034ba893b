"""Differential check for scanner changes: two revisions must give the same results, file by file.

Speed work on the scanners (issue 7) must not change a single verdict. This script scans one
corpus with the working tree and with a base revision (``git archive`` of ``--base`` into a
temporary folder, imported through ``PYTHONPATH``) and compares, per file, the format and every
finding (rule, severity, verdict, message with its offsets, location, detail).

The corpus: the labelled detection corpus (``bench/corpus.py``), ``tests/data/real``,
``../shared/corpus_real`` when present, and ``--mutants`` seeded mutants of the small files
(truncated, bytes overwritten, opcodes inserted, prefixes repeated) that exercise the
fall-back and error paths. Nothing is ever unpickled: both sides only scan.

    python bench/diff_scan.py [--base HEAD] [--mutants 2000] [--seed 1]

Exit 0 when both sides agree on every file, 1 otherwise (the differing files are printed). A
scanner exception is recorded as that file's result, so a crash fixed on one side shows up too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, sys
from modelguard.scan import scan_file
out = {}
for line in sys.stdin:
    path = line.rstrip("\n")
    try:
        r = scan_file(path)
    except Exception as e:  # a scanner bug (exit 70 in the CLI): a difference worth seeing, not a stop
        out[path] = ["exception", repr(e)]
        continue
    out[path] = [r.format, [[f.rule, f.severity.value, f.verdict.value, f.message, f.location, f.detail]
                            for f in r.findings]]
json.dump(out, sys.stdout)
"""

_OPCODES = b"cR.(tq\x80\x94\x93bhX\x8c}s"


def _mutate(data: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0 and len(data) > 1:
        return data[:rng.randrange(1, len(data))]
    if kind == 1 and data:
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if kind == 2:
        at = rng.randrange(len(data) + 1)
        return data[:at] + bytes(rng.choice(_OPCODES) for _ in range(rng.randint(1, 3))) + data[at:]
    return data[:rng.randrange(len(data) + 1)] + data


def build_corpus(out: Path, mutants: int, seed: int) -> list[Path]:
    import corpus

    files = [p for p, _ in corpus.write(out / "corpus")]
    for src in (ROOT / "tests" / "data" / "real", ROOT.parent / "shared" / "corpus_real"):
        if src.is_dir():
            dst = out / src.name
            shutil.copytree(src, dst)
            files += sorted(p for p in dst.rglob("*") if p.is_file())
    small = [p for p in files if p.stat().st_size <= 64 << 10]
    rng = random.Random(seed)
    (out / "mutants").mkdir()
    for i in range(mutants):
        src = rng.choice(small)
        path = out / "mutants" / f"{i:05d}{src.suffix}"
        path.write_bytes(_mutate(src.read_bytes(), rng))
        files.append(path)
    return files


def scan_with(pythonpath: Path, files: list[Path]) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    proc = subprocess.run([sys.executable, "-c", CHILD], input="\n".join(map(str, files)), text=True,
                          capture_output=True, env=env, check=False, cwd=pythonpath)
    if proc.returncode:
        raise SystemExit(f"scanning with {pythonpath} failed:\n{proc.stderr}")
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def _stable(result: object) -> str:
    """The result without what differs run to run: fickling's generated names in a decompiled detail."""
    return re.sub(r"_malformed_(\w+?)_\d+", r"_malformed_\1_N", json.dumps(result))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="HEAD", help="git revision to compare the working tree with")
    ap.add_argument("--mutants", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mg-diff-") as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        files = build_corpus(Path(tmp) / "data", args.mutants, args.seed)
        before, after = scan_with(base, files), scan_with(ROOT, files)
        differ = sorted(p for p in before if _stable(before[p]) != _stable(after.get(p)))
        for p in differ:
            print(f"DIFFERS {p}\n  base: {before[p]}\n  tree: {after.get(p)}")
        print(json.dumps({"base": args.base, "files": len(files), "differ": len(differ)}))
        return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
