"""Fetch: download + verification from the loopback fake Hub, against huggingface_hub and a bare GET.

Two cases (``--case``):

* ``single`` (issue 7): one 2 GiB file, ``hub.download`` vs ``hf_hub_download`` vs a plain GET
  (below);
* ``sharded`` (issue 15, :mod:`fetch_sharded`): the whole ``modelguard fetch`` command vs
  ``huggingface_hub.snapshot_download`` on a fake Hub that caps every connection, in two shapes:
  8 x 32 MiB shards at 16 MiB/s per connection and 2 x 1 GiB files at 64 MiB/s (``--shape`` picks
  one: ``SHARDSxMIB@RATE``). Target: modelguard <= 1.0x snapshot_download's wall time, peak RSS <
  200 MB.

Target of ``single`` (issue 7): modelguard's download with verification <= 1.10x the bare download of the same
file (hash while writing: no second read pass).

The fake Hub (modelguard/demo/fakehub, the real HTTP server the tests use; LFS file -> 302 to its CDN
port) runs in its own process, so the client is not slowed by the server's GIL. Three clients,
each in a fresh child process, alternating, ``--repeat`` rounds, medians:

* ``hf_hub_download``: huggingface_hub's own download into an empty temporary cache (HEAD, then
  GET through the redirect; no hash check, no fsync): what users run today;
* ``plain GET``: one streaming GET of the resolve URL (redirect followed) into a file, 1 MiB
  chunks, nothing else: the floor of the loopback network and the write path;
* ``modelguard``: ``modelguard.hub.client.download`` (HEAD, GET, SHA-256 in a second thread while
  writing (plus the git blob SHA-1 for non-LFS files), size/ETag/lock-hash checks, fsync, atomic
  rename): the verified download fetch uses.

Destinations live in ``--dir`` (default /dev/shm when present, a tmpfs: the write path is memory,
so the figure is network + hashing). With ``--dir`` on disk, modelguard's fsync waits for the disk
while the others leave dirty pages behind; the disk run is reported separately.

    python bench/bench_fetch.py [--size-mib 2048] [--repeat 3] [--dir /dev/shm]
    python bench/bench_fetch.py --case sharded [--repeat 5] [--shape 8x32@16 --shape 2x1024@64] [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _util import FAKE_HUB_SERVER_PRELUDE, emit

ROOT = Path(__file__).resolve().parents[1]

SERVER = FAKE_HUB_SERVER_PRELUDE + r"""
size = int(sys.argv[2])
block = os.urandom(1 << 20)
content = (block * (size // len(block) + 1))[:size]
hub = FakeHub().start()
commit = hub.add_repo("bench/big", {"config.json": b"{}", "model.bin": content})
print(json.dumps({"endpoint": hub.endpoint, "commit": commit, "size": size, "sha256": _sha256(content)}), flush=True)
sys.stdin.read()   # serve until the bench closes our stdin
hub.stop()
"""

CLIENT = r"""
import json, os, sys, time
from pathlib import Path
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
how, info, dest = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
url = f"{info['endpoint']}/bench/big/resolve/{info['commit']}/model.bin"
# imports happen before the clock starts: this measures the transfer, not interpreter start-up
import httpx2
from huggingface_hub import hf_hub_download
from modelguard.hub.client import download, make_client
t0 = time.perf_counter()
if how == "modelguard":
    got = download(make_client(info["endpoint"], token=""), "bench/big", info["commit"], "model.bin",
                   Path(dest) / "model.bin", expected_size=info["size"], expected_sha256=info["sha256"])
    assert got.sha256 == info["sha256"]
elif how == "hf_hub_download":
    hf_hub_download("bench/big", "model.bin", revision=info["commit"], cache_dir=dest, endpoint=info["endpoint"],
                    token=False)
else:
    with httpx2.stream("GET", url, follow_redirects=True, timeout=60) as r, open(Path(dest) / "model.bin", "wb") as f:
        for chunk in r.iter_bytes(1 << 20):
            f.write(chunk)
elapsed = time.perf_counter() - t0
with open("/proc/self/status") as f:
    hwm = int(next(l for l in f if l.startswith("VmHWM")).split()[1]) / 1024
print(json.dumps({"s": elapsed, "peak_rss_mb": hwm}))
"""


def run_client(how: str, info: dict[str, object], base: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"mg-bench-fetch-{how}-", dir=base) as dest:
        proc = subprocess.run([sys.executable, "-c", CLIENT, how, json.dumps(info), dest], capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{how} failed:\n{proc.stderr[-2000:]}")
        result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    # Untimed: flush what this client left dirty (the file is deleted, but writeback already
    # started), so the next client does not share the disk with the previous one's writeback.
    os.sync()
    return result


def bench(info: dict[str, object], base: Path, repeat: int) -> dict[str, object]:
    runs: dict[str, list[dict[str, float]]] = {"hf_hub_download": [], "plain GET": [], "modelguard": []}
    for _ in range(repeat):
        for how in runs:
            runs[how].append(run_client(how, info, base))
    med = {how: statistics.median(r["s"] for r in rs) for how, rs in runs.items()}
    size_gib = int(info["size"]) / (1 << 30)  # type: ignore[call-overload]
    return {
        "dir": str(base),
        "median_s": {how: round(s, 2) for how, s in med.items()},
        "gib_per_s": {how: round(size_gib / s, 2) for how, s in med.items()},
        "peak_rss_mb": {how: round(max(r["peak_rss_mb"] for r in rs), 1) for how, rs in runs.items()},
        "ratio_modelguard_over_hf_hub_download": round(med["modelguard"] / med["hf_hub_download"], 3),
        "ratio_modelguard_over_plain_get": round(med["modelguard"] / med["plain GET"], 3),
        "target": "<= 1.10",
    }


SHAPES = ("8x32@16", "2x1024@64")
"""the issue's two shapes: SHARDS x MiB @ MiB/s per connection"""


def sharded(args: argparse.Namespace, base: Path) -> None:
    from fetch_sharded import bench_case

    cases = []
    for shape in args.shape or SHAPES:
        count, _, rest = shape.partition("x")
        mib, _, rate = rest.partition("@")
        cases.append(bench_case(int(count), float(mib), float(rate), args.repeat, base, args.mg_arg))
    emit({"cpus": os.cpu_count(), "dir": str(base), "cases": cases})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=("single", "sharded"), default="single")
    ap.add_argument("--size-mib", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, action="append",
                    help="where downloads are written (repeatable); default /dev/shm when present")
    ap.add_argument("--shape", action="append", metavar="SHARDSxMIB@RATE",
                    help=f"sharded case: files x MiB at MiB/s per connection (repeatable; default {' '.join(SHAPES)})")
    ap.add_argument("--mg-arg", action="append", default=[], metavar="ARG",
                    help="sharded case: an extra argument for `modelguard fetch` (e.g. --mg-arg=--max-workers=4)")
    args = ap.parse_args()
    dirs = args.dir or [Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())]
    if args.case == "sharded":
        sharded(args, dirs[0])
        return
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(ROOT), str(args.size_mib << 20)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        results = {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg(), "size_mib": args.size_mib,
                   "runs": [bench(info, d, args.repeat) for d in dirs], "loadavg_at_end": os.getloadavg()}
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
    emit(results)


if __name__ == "__main__":
    main()
