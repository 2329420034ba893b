"""Resume after kill -9, a server that ignores ``Range``, and the age of kept partials (issue 15).

The fake Hub (modelguard/demo/fakehub, in this process, on loopback) counts every body byte it serves.
A model of ``--shards`` x ``--shard-mib`` MiB safetensors shards is locked, then:

1. ``kill -9``: ``modelguard fetch`` runs in a child process with every connection capped at
   ``--rate-mib`` MiB/s and is killed with SIGKILL once the Hub has served half of the model's bytes;
   a second ``modelguard fetch`` (uncapped) completes it. Reported: bytes served before the kill and
   by the second run, as fractions of the model (target: second run <= 0.60), and what it asked for.
2. ``Range`` ignored: the same kill, then the second run against a Hub that answers every ``Range``
   request with 200 and the whole file; reported: whether each file was restarted (MG-H150 in the
   report, admitted) and the bytes served (the whole model again, by construction).
3. Age: the partials a third kill left are dated ``MAX_AGE`` + 1 s back, then ``modelguard fetch`` of
   another model runs (every fetch sweeps the quarantine when it starts). Reported: partials before
   and after.

    python bench/bench_resume.py [--shards 8] [--shard-mib 32] [--rate-mib 16]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _util import emit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modelguard.demo.fakehub import FakeHub  # noqa: E402
from modelguard.demo.fakehub.model import Fault  # noqa: E402
from modelguard.store.partial import MAX_AGE  # noqa: E402

MIB = 1 << 20


def safetensors(size: int) -> bytes:
    header = json.dumps({"w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}).encode()
    header += b" " * (-len(header) % 8)
    block = os.urandom(MIB)
    return struct.pack("<Q", len(header)) + header + (block * (size // MIB + 1))[:size]


def _env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "MODELGUARD_"))}
    env.update(HF_HOME=str(base / "hf-home"), PYTHONPATH=str(ROOT), HF_HUB_DISABLE_TELEMETRY="1")
    return env


def _mg(hub: FakeHub, project: Path, cache: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "modelguard", "--endpoint", hub.endpoint, *args, "--lockfile",
            str(project / "modelguard.lock"), "--cache-dir", str(cache)]


def _project(hub: FakeHub, base: Path, repos: list[tuple[str, str]]) -> Path:
    project = base / "project"
    project.mkdir()
    entries = "".join(f'\n[[hf-model]]\nname = "{name}"\nrepo = "{repo}"\n' for name, repo in repos)
    (project / "modelguard.toml").write_text(f'[policy]\nallowed-orgs = ["bench"]\n{entries}', encoding="utf-8")
    subprocess.run([sys.executable, "-m", "modelguard", "-q", "--endpoint", hub.endpoint, "lock", "--manifest",
                    str(project / "modelguard.toml")], check=True, env=_env(base), capture_output=True)
    return project


def _kill_half_way(hub: FakeHub, project: Path, cache: Path, total: int, rate: float, env: dict[str, str],
                   name: str) -> dict[str, float]:
    hub.limit_rate(rate)
    start = hub.bytes_served
    child = subprocess.Popen(_mg(hub, project, cache, "fetch", name), env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    try:
        while hub.bytes_served - start < total // 2:
            if child.poll() is not None or time.monotonic() - t0 > 600:
                raise SystemExit("the first fetch ended (or stalled) before it was half way")
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    hub.limit_rate(None)
    return {"served_before_kill": round((hub.bytes_served - start) / total, 3), "killed_after_s":
            round(time.monotonic() - t0, 2)}


def _second_run(hub: FakeHub, project: Path, cache: Path, total: int, env: dict[str, str],
                name: str) -> dict[str, Any]:
    hub.clear_requests()
    start = hub.bytes_served
    t0 = time.monotonic()
    done = subprocess.run(_mg(hub, project, cache, "fetch", name, "-f", "json"), env=env, capture_output=True,
                          text=True, timeout=600)
    doc = json.loads(done.stdout)
    gets = [r.headers.get("range", "") for r in hub.requests
            if r.method == "GET" and not r.path.startswith("/api/models/")]
    return {"exit": done.returncode, "status": [m["status"] for m in doc["models"]],
            "rules": sorted({f["rule"] for f in doc["findings"]}),
            "served_again": round((hub.bytes_served - start) / total, 3), "s": round(time.monotonic() - t0, 2),
            "gets": len(gets), "ranged_gets": sum(1 for g in gets if g.startswith("bytes="))}


def _partials(cache: Path) -> int:
    folder = cache / "quarantine" / "partial"
    return len(list(folder.glob("*.part"))) if folder.is_dir() else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--shard-mib", type=float, default=32)
    ap.add_argument("--rate-mib", type=float, default=16, help="per-connection cap of the killed fetch")
    ap.add_argument("--dir", type=Path, default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None)
    args = ap.parse_args()
    shard = int(args.shard_mib * MIB)
    with FakeHub() as hub, tempfile.TemporaryDirectory(prefix="mg-bench-resume-", dir=args.dir) as tmp:
        base = Path(tmp)
        repos = []
        for name in ("honest", "norange", "aged", "other"):
            files = {"config.json": b'{"model_type": "bench"}'}
            files.update({f"model-{i + 1:05d}-of-{args.shards:05d}.safetensors": safetensors(shard)
                          for i in range(args.shards if name != "other" else 1)})
            hub.add_repo(f"bench/{name}", files, lfs=[p for p in files if p.endswith(".safetensors")])
            repos.append((name, f"bench/{name}", sum(len(v) for v in files.values())))
        project = _project(hub, base, [(n, r) for n, r, _ in repos])
        env, cache, total = _env(base), base / "cache", repos[0][2]
        out: dict[str, Any] = {"model_mib": round(total / MIB, 1), "rate_mib_per_connection": args.rate_mib}
        kill = _kill_half_way(hub, project, cache, total, args.rate_mib * MIB, env, "honest")
        out["kill_9"] = {**kill, "partials_kept": _partials(cache),
                         **_second_run(hub, project, cache, total, env, "honest"), "target": "served_again <= 0.60"}
        kill = _kill_half_way(hub, project, cache, total, args.rate_mib * MIB, env, "norange")
        hub.inject(Fault.IGNORE_RANGE, repo="bench/norange")
        out["range_ignored"] = {**kill, **_second_run(hub, project, cache, total, env, "norange")}
        _kill_half_way(hub, project, cache, total, args.rate_mib * MIB, env, "aged")
        before = _partials(cache)
        old = time.time() - MAX_AGE - 1
        for entry in (cache / "quarantine" / "partial").iterdir():
            os.utime(entry, (old, old))
        subprocess.run(_mg(hub, project, cache, "fetch", "other"), env=env, check=True, capture_output=True)
        out["partial_age"] = {"max_age_s": MAX_AGE, "partials_before": before, "after_next_fetch": _partials(cache)}
    emit(out)


if __name__ == "__main__":
    main()
