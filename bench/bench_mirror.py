"""Mirror fetch: a 2 GiB model from the loopback CNCF distribution registry vs a plain blob GET.

Target (issue 16): ``modelguard fetch`` of a 2 GiB model from a loopback registry <= 1.10x a plain
blob GET of the same artifact; and four caches fetching from one registry at once.

The registry is the real one (Debian ``docker-registry``, distribution 2.8) with its storage in
``--dir`` (default /dev/shm, a tmpfs: the figure is the network path and hashing, not a disk).
The model (one 2 GiB safetensors file + a config) is pushed once with ``modelguard push``'s client.
Each client runs in a fresh process, alternating, ``--repeat`` rounds, medians:

* ``plain GET``: one streaming GET of the blob URL with requests, 1 MiB chunks, into a file, no
  hash: the floor of the loopback network and the write path (what ``oras pull`` does minus its
  digest check);
* ``GET + sha256``: the same GET, hashing each chunk in the same thread and checking the digest at
  the end: what ``oras pull`` does (oras-go verifies every blob's digest while copying; the oras CLI
  is a Go binary that no package registry this project uses ships, so this is its stand-in);
* ``curl``: ``curl -o`` of the same URL (C, no hash), when curl is installed;
* ``oras-py pull`` (with ``--oras-python``): oras-py's ``Registry.pull`` of the same artifact (both
  files, named by their title annotation; 8 KiB writes, no digest check), timed after its imports;
* ``modelguard source``: :meth:`modelguard.mirror.source.MirrorSource.download` of the weights: the
  verified download fetch uses (SHA-256 in a second thread while writing, size/lock checks, fsync,
  atomic rename);
* ``modelguard fetch()``: the library call of the fetch flow, timed after imports like the others
  (both files, quarantine, hash, scan, policy, admission, audit line) into an empty cache;
* ``modelguard fetch``: the whole ``modelguard fetch --mirror ... --no-hub`` command, interpreter
  start-up and imports included.

Then ``--caches`` (4) ``modelguard fetch`` processes start at once, each into its own cache, and
the same number of plain GETs, then of GET + sha256, at once: wall time and aggregate GiB/s.

    python bench/bench_mirror.py [--size-mib 2048] [--repeat 3] [--caches 4] [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import emit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ORAS_CLIENT = r"""
import json, sys, time
info, dest = json.loads(sys.argv[1]), sys.argv[2]
import oras.provider  # oras-py (PyPI "oras"), in its own venv: imports before the clock
host = info["url"].removeprefix("oci://").split("/", 1)[0]
client = oras.provider.Registry(hostname=host, insecure=True)
t0 = time.perf_counter()
files = client.pull(target=f"{host}/{info['repo_path']}:{info['commit']}", outdir=dest)
elapsed = time.perf_counter() - t0
assert len(files) == 2, files
print(json.dumps({"s": elapsed}))
"""

CLIENT = r"""
import json, sys, time
from pathlib import Path
how, info, dest = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
import requests  # imports before the clock: this measures the transfer, not interpreter start-up
from modelguard.mirror.oci import RegistryClient
from modelguard.mirror.reference import parse_location
from modelguard.mirror.source import MirrorSource
from modelguard.spec.types import LockedFile
from modelguard.flows.fetch import fetch
t0 = time.perf_counter()
if how == "modelguard fetch()":
    report = fetch(info["lock"], cache_dir=dest / "cache", mirror_url=info["url"], plain_http=True, no_hub=True)
    assert report.exit_code == 0, report.models
elif how == "modelguard source":
    lf = LockedFile("model.safetensors", info["size"], info["sha256"], "lfs-sha256")
    source = MirrorSource(RegistryClient(parse_location(info["url"], plain_http=True)), hub_fallback=False)
    got = source.download(info["repo"], lf, dest / "model.safetensors")
    assert got.sha256 == info["sha256"]
elif how == "GET + sha256":
    import hashlib
    h = hashlib.sha256()
    with requests.get(info["blob_url"], stream=True, timeout=60) as r, open(dest / "model.safetensors", "wb") as f:
        r.raise_for_status()
        for chunk in r.iter_content(1 << 20):
            f.write(chunk)
            h.update(chunk)
    assert h.hexdigest() == info["sha256"]
else:
    with requests.get(info["blob_url"], stream=True, timeout=60) as r, open(dest / "model.safetensors", "wb") as f:
        r.raise_for_status()
        for chunk in r.iter_content(1 << 20):
            f.write(chunk)
elapsed = time.perf_counter() - t0
with open("/proc/self/status") as f:
    hwm = int(next(l for l in f if l.startswith("VmHWM")).split()[1]) / 1024
print(json.dumps({"s": elapsed, "peak_rss_mb": hwm}))
"""


def safetensors_file(path: Path, size: int) -> str:
    """A valid safetensors file of ``size`` bytes (one uint8 tensor); returns its SHA-256."""
    header = b""
    for _ in range(3):  # the header's length depends on the count, which depends on the header's length
        count = size - 8 - len(header)
        header = json.dumps({"w": {"dtype": "U8", "shape": [count], "data_offsets": [0, count]}}).encode()
        header += b" " * (-len(header) % 8)
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        head = len(header).to_bytes(8, "little") + header
        f.write(head)
        digest.update(head)
        left = size - len(head)
        while left:
            chunk = block[:min(left, len(block))]
            f.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def start_registry(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    import re
    import secrets

    config = folder / "config.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n"
                      f"    rootdirectory: {folder / 'storage'}\nhttp:\n  addr: 127.0.0.1:0\n"
                      f"  secret: {secrets.token_hex(16)}\n")
    log = folder / "registry.log"
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("docker-registry is not installed: apt-get install -y docker-registry")
    with open(log, "wb") as out:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT)
    for _ in range(400):
        found = re.search(r"listening on (127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        if found:
            return proc, found.group(1)
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("docker-registry did not start")


def project(folder: Path, info: dict[str, object], config: bytes) -> Path:
    """modelguard.toml + modelguard.lock pinning the pushed model (what the publisher committed)."""
    from modelguard.spec.lockfile import write_lockfile
    from modelguard.spec.manifest import parse_manifest, spec_sha256
    from modelguard.spec.types import LockedFile, LockedHFModel, Lockfile
    from modelguard.store.digest import git_blob_sha1

    text = f'[policy]\nallowed-orgs = ["bench"]\n\n[[hf-model]]\nname = "big"\nrepo = "bench/big"\nrevision = ' \
           f'"{info["commit"]}"\n'
    (folder / "modelguard.toml").write_text(text)
    manifest = parse_manifest(text)
    files = (LockedFile("config.json", len(config), hashlib.sha256(config).hexdigest(), "git-blob-sha1",
                        git_blob_sha1(config)),
             LockedFile("model.safetensors", int(str(info["size"])), str(info["sha256"]), "lfs-sha256"))
    model = LockedHFModel("big", "bench/big", str(info["commit"]), str(info["commit"]), files,
                          spec_sha256(manifest.hf_models[0]))
    lock = folder / "modelguard.lock"
    write_lockfile(str(lock), Lockfile(1, "modelguard 0.1.0", manifest.sha256, manifest.policy.sha256, (model,)))
    return lock


def publish(url: str, weights: Path, config: bytes, info: dict[str, object]) -> None:
    from modelguard.mirror import modelpack
    from modelguard.mirror.oci import OCI_MANIFEST, RegistryClient
    from modelguard.mirror.reference import parse_location
    from modelguard.spec.types import LockedFile, LockedHFModel

    files = {"config.json": LockedFile("config.json", len(config), hashlib.sha256(config).hexdigest(), "x"),
             "model.safetensors": LockedFile("model.safetensors", int(str(info["size"])), str(info["sha256"]), "x")}
    model = LockedHFModel("big", "bench/big", "main", str(info["commit"]), tuple(files.values()))
    art = modelpack.model_artifact("bench/big", str(info["commit"]), [model], files,
                                   {"config.json": "json", "model.safetensors": "safetensors"})
    with RegistryClient(parse_location(url, plain_http=True)) as client:
        repo = str(info["repo_path"])
        client.upload_blob(repo, art.config.digest, art.config.data or b"", art.config.size)
        client.upload_blob(repo, "sha256:" + files["config.json"].sha256, config, len(config))
        client.upload_blob(repo, "sha256:" + str(info["sha256"]), weights, int(str(info["size"])))
        client.put_manifest(repo, str(info["commit"]), art.manifest, OCI_MANIFEST)


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds a live process has used (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_client(how: str, info: dict[str, object], base: Path) -> dict[str, float]:
    """One timed run; ``cpu_s`` is the client process's user+system CPU (whole process, start-up included),
    ``registry_cpu_s`` the registry's during the run."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    registry_before = _cpu_of(int(str(info["registry_pid"])))
    with tempfile.TemporaryDirectory(prefix="mg-bench-mirror-", dir=base) as dest:
        t0 = time.perf_counter()
        if how == "curl":
            subprocess.run(["curl", "-sSf", "-o", f"{dest}/model.safetensors", str(info["blob_url"])], check=True)
            result = {"s": time.perf_counter() - t0}
        elif how == "oras-py pull":
            proc = subprocess.run([str(info["oras_python"]), "-c", ORAS_CLIENT, json.dumps(info), dest],
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"oras-py pull failed:\n{proc.stderr[-2000:]}")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
        elif how == "modelguard fetch":
            proc = subprocess.run([sys.executable, "-m", "modelguard", "-q", "fetch", "--lockfile", str(info["lock"]),
                                   "--cache-dir", f"{dest}/cache", "--mirror", str(info["url"]), "--plain-http",
                                   "--no-hub"], capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"modelguard fetch failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
            result = {"s": time.perf_counter() - t0}
        else:
            proc = subprocess.run([sys.executable, "-c", CLIENT, how, json.dumps(info), dest], capture_output=True,
                                  text=True, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
            if proc.returncode != 0:
                raise SystemExit(f"{how} failed:\n{proc.stderr[-2000:]}")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["registry_cpu_s"] = _cpu_of(int(str(info["registry_pid"]))) - registry_before
    return result


def concurrent(how: str, info: dict[str, object], base: Path, n: int) -> float:
    """Wall time of ``n`` clients started at once, each into its own folder."""
    folders = [Path(tempfile.mkdtemp(prefix="mg-bench-mirror-c-", dir=base)) for _ in range(n)]
    try:
        if how == "modelguard fetch":
            cmds = [[sys.executable, "-m", "modelguard", "-q", "fetch", "--lockfile", str(info["lock"]),
                     "--cache-dir", f"{d}/cache", "--mirror", str(info["url"]), "--plain-http", "--no-hub"]
                    for d in folders]
        else:
            cmds = [[sys.executable, "-c", CLIENT, how, json.dumps(info), str(d)] for d in folders]
        t0 = time.perf_counter()
        procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)}) for c in cmds]
        codes = [p.wait() for p in procs]
        elapsed = time.perf_counter() - t0
        if any(codes):
            raise SystemExit(f"{how} x{n} failed: {codes}")
        return elapsed
    finally:
        for d in folders:
            shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--caches", type=int, default=4)
    ap.add_argument("--dir", type=Path, default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None)
    ap.add_argument("--oras-python", type=Path, default=None,
                    help="a Python with oras-py installed (python -m venv V && V/bin/pip install oras): adds "
                         "its pull of the same artifact as a column")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mg-bench-mirror-", dir=args.dir))
    proc = None
    try:
        load_before = [round(x, 2) for x in os.getloadavg()]
        weights = base / "weights.safetensors"
        size = args.size_mib << 20
        sha = safetensors_file(weights, size)
        proc, host = start_registry(base)
        url = f"oci://{host}/bench"
        info: dict[str, object] = {"registry_pid": proc.pid, "url": url, "repo": "bench/big",
                                   "repo_path": "bench/bench--big", "size": size,
                                   "sha256": sha, "commit": "b" * 40,
                                   "blob_url": f"http://{host}/v2/bench/bench--big/blobs/sha256:{sha}"}
        config = b'{"model_type": "bench"}\n'
        publish(url, weights, config, info)
        weights.unlink()  # the registry holds its own copy; do not keep two in memory
        info["lock"] = str(project(base, info, config))
        hows = ["plain GET", "GET + sha256", "modelguard source", "modelguard fetch()", "modelguard fetch"] + (
            ["curl"] if shutil.which("curl") else []) + (["oras-py pull"] if args.oras_python else [])
        info["oras_python"] = str(args.oras_python or "")
        runs: dict[str, list[dict[str, float]]] = {how: [] for how in hows}
        for _ in range(args.repeat):
            for how in hows:
                runs[how].append(run_client(how, info, base))
        med = {how: statistics.median(r["s"] for r in v) for how, v in runs.items()}
        best = {how: min(r["s"] for r in v) for how, v in runs.items()}
        cpu = {how: statistics.median(r["cpu_s"] for r in v) for how, v in runs.items()}
        server_cpu = {how: statistics.median(r["registry_cpu_s"] for r in v) for how, v in runs.items()}
        cores = os.cpu_count() or 1
        load_single = [round(x, 2) for x in os.getloadavg()]
        gib = size / (1 << 30)
        together = {how: concurrent(how, info, base, args.caches)
                    for how in ("plain GET", "GET + sha256", "modelguard fetch")}
        emit({
            "size_mib": args.size_mib, "dir": str(args.dir), "repeat": args.repeat,
            "load_avg_before": load_before, "load_avg_after_single_runs": load_single,
            "median_s": {how: round(s, 2) for how, s in med.items()},
            "gib_per_s": {how: round(gib / s, 2) for how, s in med.items()},
            "min_s": {how: round(s, 2) for how, s in best.items()},
            "client_cpu_s": {how: round(s, 2) for how, s in cpu.items()},
            "registry_cpu_s": {how: round(s, 2) for how, s in server_cpu.items()},
            # The floor on this machine: client + registry CPU spread over every core, if nothing else ran.
            "cpu_floor_s": {how: round((cpu[how] + server_cpu[how]) / cores, 2) for how in cpu},
            "ratio_min_modelguard_fetch_call_over_plain_get": round(best["modelguard fetch()"] / best["plain GET"], 3),
            "ratio_min_modelguard_fetch_call_over_get_sha256": round(
                best["modelguard fetch()"] / best["GET + sha256"], 3),
            "ratio_modelguard_fetch_over_plain_get": round(med["modelguard fetch"] / med["plain GET"], 3),
            "ratio_modelguard_source_over_plain_get": round(med["modelguard source"] / med["plain GET"], 3),
            "ratio_modelguard_fetch_over_get_sha256": round(med["modelguard fetch"] / med["GET + sha256"], 3),
            "ratio_modelguard_fetch_call_over_plain_get": round(med["modelguard fetch()"] / med["plain GET"], 3),
            "ratio_modelguard_fetch_call_over_get_sha256": round(med["modelguard fetch()"] / med["GET + sha256"],
                                                                 3),
            "ratio_modelguard_source_over_get_sha256": round(med["modelguard source"] / med["GET + sha256"], 3),
            "target": "<= 1.10",
            f"concurrent_{args.caches}": {
                how: {"wall_s": round(s, 2), "aggregate_gib_per_s": round(args.caches * gib / s, 2)}
                for how, s in together.items()},
            "ratio_concurrent_modelguard_over_plain_get": round(together["modelguard fetch"] / together["plain GET"],
                                                                3),
            "ratio_concurrent_modelguard_over_get_sha256": round(
                together["modelguard fetch"] / together["GET + sha256"], 3),
        })
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
