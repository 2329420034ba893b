"""Lock: a repo of 5,000 files on the loopback fake Hub locked in < 5 s (issue 7: paginated tree
listing, no request per file).

The fake Hub (modelguard/demo/fakehub, 1,000 entries per tree page like the real Hub) runs in its own
process with one repo of ``--files`` LFS files (the Hub publishes their SHA-256, so nothing is
downloaded) plus ``--small`` small git files (config, tokenizer: the Hub publishes only a git
SHA-1 for those, so modelguard downloads each once to record its SHA-256). Timed, alternating,
medians of ``--repeat`` runs:

* ``modelguard lock``: the CLI, start-up included (run as in bench_import.py: from ``--mg-venv``,
  bytecode cached), into a fresh lockfile each time;
  its CPU time (user + system of the child) shows how much of the wall time is modelguard's own
  work and how much is waiting for the fake server, which builds each listing in Python;
* ``list_repo_tree``: huggingface_hub's recursive listing of the same commit, the floor for
  any tool that pins every file.

The server counts requests per run, so "no request per file" is checked, not assumed.

    python bench/bench_lock.py [--files 5000] [--small 8] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import DEFAULT_MG_VENV, MG_CLI, bench_env, emit, mg_python

ROOT = Path(__file__).resolve().parents[1]

SERVER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.fakehub import FakeHub

files, small = int(sys.argv[2]), int(sys.argv[3])
content = {f"shards/part-{i:05d}.bin": (b"%08d" % i) * 160 for i in range(files)}   # 1,280 B: LFS
content.update({f"config-{i}.json": b'{"i": %d}' % i for i in range(small)})          # git files
hub = FakeHub().start()
commit = hub.add_repo("bench/many", content)
print(json.dumps({"endpoint": hub.endpoint, "commit": commit}), flush=True)
for line in sys.stdin:            # "count" -> requests since the last count
    print(len(hub.requests), flush=True)
    hub.clear_requests()
hub.stop()
"""

LISTING = r"""
import os, sys, time
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
from huggingface_hub import HfApi
t0 = time.perf_counter()
n = sum(1 for e in HfApi(endpoint=sys.argv[1], token=False).list_repo_tree("bench/many", revision=sys.argv[2],
                                                                           recursive=True))
print(time.perf_counter() - t0, n)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--small", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--mg-venv", type=Path, default=Path(DEFAULT_MG_VENV))
    args = ap.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(ROOT), str(args.files), str(args.small)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdin is not None and server.stdout is not None
    info = json.loads(server.stdout.readline())

    def requests_since_last() -> int:
        server.stdin.write("count\n")  # type: ignore[union-attr]
        server.stdin.flush()  # type: ignore[union-attr]
        return int(server.stdout.readline())  # type: ignore[union-attr]

    python, editable = mg_python(args.mg_venv)
    pycache = tempfile.mkdtemp(prefix="mg-bench-pycache-")
    hf_env = {"HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1"}
    env = {**bench_env(pycache, modelguard=True), **hf_env}
    subprocess.run([python, "-c", MG_CLI, "--help"], capture_output=True, env=env, check=False)  # bytecode cache
    lock_s: list[float] = []
    lock_cpu: list[float] = []
    list_s: list[float] = []
    lock_requests = list_requests = 0
    pinned = 0
    try:
        with tempfile.TemporaryDirectory(prefix="mg-bench-lock-") as tmp:
            manifest = Path(tmp) / "modelguard.toml"
            manifest.write_text('[policy]\nallowed-orgs = ["bench"]\n\n[[hf-model]]\nname = "many"\n'
                                'repo = "bench/many"\nrevision = "main"\n')
            lockfile = Path(tmp) / "modelguard.lock"
            requests_since_last()
            for _ in range(args.repeat):
                lockfile.unlink(missing_ok=True)
                cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                proc = subprocess.run([python, "-c", MG_CLI, "--endpoint", info["endpoint"], "-q", "lock",
                                       "--manifest", str(manifest)], capture_output=True, text=True, env=env,
                                      check=False)
                lock_s.append(time.perf_counter() - t0)
                cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                lock_cpu.append(cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime)
                if proc.returncode != 0:
                    raise SystemExit(f"modelguard lock failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
                lock_requests = requests_since_last()
                pinned = lockfile.read_text().count("path = ")
                out = subprocess.run([sys.executable, "-c", LISTING, info["endpoint"], info["commit"]],
                                     capture_output=True, text=True, env={**os.environ, **hf_env},
                                     check=True).stdout.split()
                list_s.append(float(out[0]))
                list_requests = requests_since_last()
    finally:
        server.stdin.close()
        server.wait(timeout=30)
        shutil.rmtree(pycache, ignore_errors=True)
    emit({
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "modelguard_python": python,
        "modelguard_editable": editable,
        "repo_files": args.files + args.small,
        "lfs_files": args.files,
        "git_files_downloaded_for_sha256": args.small,
        "files_pinned_in_lock": pinned,
        "modelguard_lock_median_s": round(statistics.median(lock_s), 2),
        "modelguard_lock_cpu_median_s": round(statistics.median(lock_cpu), 2),
        "modelguard_lock_requests": lock_requests,
        "hf_list_repo_tree_median_s": round(statistics.median(list_s), 2),
        "hf_list_repo_tree_requests": list_requests,
        "target_s": 5,
    })


if __name__ == "__main__":
    main()
