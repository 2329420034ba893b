"""The sharded, per-connection-capped fetch case of ``bench_fetch.py`` (issue 15).

A real model is many large shards served by a CDN that caps each connection (a CDN edge gives one
stream about 10–100 MiB/s); a client is only faster by opening more connections. The fake Hub
(modelguard/demo/fakehub, in its own process) caps every connection at ``rate`` MiB/s
(:meth:`~modelguard.demo.fakehub.FakeHub.limit_rate`) and serves ``shards`` safetensors files of
``shard_mib`` MiB each (random tensor bytes, so nothing compresses) and a config.json.

Two clients, each the whole command a user runs, in a fresh process, alternating, ``repeat`` rounds:

* ``snapshot_download``: ``huggingface_hub.snapshot_download`` of the repo at the commit into an
  empty cache, with its defaults (8 workers, one connection per file; the token looked up as users
  leave it, from an empty ``HF_HOME``; HTTP: the fake Hub does not speak Xet);
* ``modelguard fetch``: ``modelguard fetch`` of the locked repo into an empty verified cache
  (resolve, HEAD + GET per file, SHA-256 of every byte while writing, scan, policy, admission,
  audit line), the lock made once beforehand, untimed.

Wall time is measured around the child process (interpreter start-up included, for both); CPU
seconds are the child's user + system time (``os.wait4``); peak RSS is the child's ``VmHWM``.
Figures: best-of and median of each, the ratios modelguard / snapshot_download of those, and the
paired ratios (each round runs both clients back to back, so the ratio within a round cancels what
drifts between rounds): their median, mean, and in how many rounds modelguard was faster.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _util import FAKE_HUB_SERVER_PRELUDE

ROOT = Path(__file__).resolve().parents[1]

SERVER = FAKE_HUB_SERVER_PRELUDE + r"""

shards, shard_bytes, rate = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])

def safetensors(size):
    # A valid safetensors file: one U8 tensor of ``size`` random bytes (the scanner reads the header only).
    header = json.dumps({"w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}).encode()
    header += b" " * (-len(header) % 8)
    block = os.urandom(1 << 20)
    return struct.pack("<Q", len(header)) + header + (block * (size // len(block) + 1))[:size]

files = {"config.json": b'{"model_type": "bench"}'}
for i in range(shards):
    files[f"model-{i + 1:05d}-of-{shards:05d}.safetensors"] = safetensors(shard_bytes)
hub = FakeHub().start()
hub.limit_rate(rate if rate > 0 else None)
commit = hub.add_repo("bench/sharded", files)
print(json.dumps({"endpoint": hub.endpoint, "commit": commit,
                  "bytes": sum(len(v) for v in files.values())}), flush=True)
sys.stdin.read()   # serve until the bench closes our stdin
hub.stop()
"""

HF_CLIENT = r"""
import json, os, sys
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
info, dest = json.loads(sys.argv[1]), sys.argv[2]
from huggingface_hub import snapshot_download
# token as users leave it (None: huggingface_hub looks for one, as modelguard does; HF_HOME is empty)
snapshot_download("bench/sharded", revision=info["commit"], cache_dir=dest, endpoint=info["endpoint"])
with open("/proc/self/status") as f:
    print(json.dumps({"peak_rss_mb": int(next(l for l in f if l.startswith("VmHWM")).split()[1]) / 1024}))
"""

MG_CLIENT = r"""
import json, os, sys
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
info, dest, project = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
from modelguard.cli import run
code = run(["-q", "--endpoint", info["endpoint"], "fetch", "--lockfile", os.path.join(project, "modelguard.lock"),
            "--cache-dir", dest, *sys.argv[4:]])
assert code == 0, code
with open("/proc/self/status") as f:
    print(json.dumps({"peak_rss_mb": int(next(l for l in f if l.startswith("VmHWM")).split()[1]) / 1024}))
"""


def _child(code: str, args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``code`` in a fresh interpreter: wall seconds, CPU seconds (user + system) and peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"client failed ({proc.returncode}):\n{err.read().decode()[-3000:]}")
        result: dict[str, float] = json.loads(out.read().decode().strip().splitlines()[-1])
    result.update(s=wall, cpu_s=usage.ru_utime + usage.ru_stime)
    return result


def _project(info: dict[str, Any], where: Path, env: dict[str, str]) -> Path:
    project = where / "project"
    project.mkdir()
    (project / "modelguard.toml").write_text(
        '[policy]\nallowed-orgs = ["bench"]\n\n[[hf-model]]\nname = "sharded"\nrepo = "bench/sharded"\n'
        f'revision = "{info["commit"]}"\n', encoding="utf-8")
    subprocess.run([sys.executable, "-c", "import sys; from modelguard.cli import main; main()", "-q",
                    "--endpoint", info["endpoint"], "lock", "--manifest", str(project / "modelguard.toml")],
                   check=True, env=env, capture_output=True)
    return project


def _summary(runs: list[dict[str, float]]) -> dict[str, float]:
    return {
        "best_s": round(min(r["s"] for r in runs), 2),
        "median_s": round(statistics.median(r["s"] for r in runs), 2),
        "median_cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 2),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
    }


def bench_case(shards: int, shard_mib: float, rate_mib: float, repeat: int, base: Path,
               mg_args: list[str] | None = None) -> dict[str, Any]:
    """One case: ``shards`` x ``shard_mib`` MiB at ``rate_mib`` MiB/s per connection (0: uncapped)."""
    # Bytecode cached for both clients, as installed packages have it (a sandbox that sets
    # PYTHONDONTWRITEBYTECODE would recompile the working tree's modelguard on every run).
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "HF_ENDPOINT", "HF_TOKEN", "PYTHONPATH")}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONPYCACHEPREFIX"] = str(base / "mg-bench-pycache")
    env["HF_HOME"] = str(base / "mg-bench-hf-home")  # no login token, no user cache, for both clients
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(ROOT), str(shards), str(int(shard_mib * (1 << 20))),
                               str(rate_mib * (1 << 20))], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    load = [os.getloadavg()[0]]
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        with tempfile.TemporaryDirectory(prefix="mg-bench-sharded-", dir=base) as tmp:
            project = _project(info, Path(tmp), {**env, "MODELGUARD_HOME": str(Path(tmp) / "home")})
            runs: dict[str, list[dict[str, float]]] = {"snapshot_download": [], "modelguard fetch": []}
            for _ in range(repeat):
                for how in runs:
                    with tempfile.TemporaryDirectory(prefix="dest-", dir=tmp) as dest:
                        if how == "snapshot_download":
                            runs[how].append(_child(HF_CLIENT, [json.dumps(info), dest], env))
                        else:
                            runs[how].append(_child(MG_CLIENT, [json.dumps(info), dest, str(project),
                                                                *(mg_args or [])],
                                                    {**env, "MODELGUARD_HOME": dest}))
                    load.append(os.getloadavg()[0])
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=60)
    hf, mg = _summary(runs["snapshot_download"]), _summary(runs["modelguard fetch"])
    # Each round runs both clients back to back: the per-round ratio cancels what drifts between rounds.
    paired = [m["s"] / h["s"] for h, m in zip(runs["snapshot_download"], runs["modelguard fetch"], strict=True)]
    return {
        "case": f"{shards} x {shard_mib:g} MiB at {rate_mib:g} MiB/s per connection",
        "model_mib": round(info["bytes"] / (1 << 20), 1),
        "snapshot_download": hf,
        "modelguard fetch": mg,
        "ratio_median": round(mg["median_s"] / hf["median_s"], 3),
        "ratio_best": round(mg["best_s"] / hf["best_s"], 3),
        "ratio_paired": {"median": round(statistics.median(paired), 3), "mean": round(statistics.fmean(paired), 3),
                         "modelguard_faster_rounds": f"{sum(r < 1 for r in paired)}/{len(paired)}"},
        "target": "<= 1.0, peak RSS < 200 MB",
        "load_1min": [round(x, 1) for x in (min(load), max(load))],
        "runs_s": {how: [round(r["s"], 2) for r in rs] for how, rs in runs.items()},
    }
