"""Hashing: modelguard's verify hash vs the machine's single-core SHA-256 (hashlib/OpenSSL).

Targets (issue 7): one large file >= 0.9x single-core; a 4-file snapshot >= 1.7x single-core
(files hashed in parallel threads); peak RSS < 100 MB whatever the file size.

Files are generated in a temporary folder and read once before timing so they sit in the page
cache: this measures the hash, not the disk. The snapshot speed-up can only be as good as the
cores that are free: ``two_thread_hashlib_ceiling_now`` measures that ceiling in the same run
(two threads hashing in-memory buffers), so a shared, loaded machine is told apart from a
modelguard shortfall. Run: python bench/bench_hash.py [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor

from _util import child_peak_rss_mb, emit, make_file, median_times

from modelguard.store.digest import hash_file, hash_files


def parallel_ceiling(repeat: int) -> float:
    """Speed-up of hashing two in-memory buffers in two threads over one after the other: what
    the cores that are free right now allow (no file I/O at all). On an idle 2-core machine ~2."""
    bufs = [os.urandom(1 << 20) * 256 for _ in range(2)]

    def one(buf: bytes) -> None:
        h = hashlib.sha256()
        view = memoryview(buf)
        for i in range(0, len(view), 1 << 20):  # 1 MiB updates, as hash_file does
            h.update(view[i:i + (1 << 20)])

    def threaded() -> None:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(one, bufs))

    times = median_times({"sequential": lambda: [one(b) for b in bufs], "threaded": threaded}, repeat)
    return times["sequential"] / times["threaded"]


def baseline_single(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    size = args.size_mib << 20
    with tempfile.TemporaryDirectory(prefix="mg-bench-hash-") as tmp:
        paths = [os.path.join(tmp, f"shard-{i}.bin") for i in range(args.files)]
        for p in paths:
            make_file(p, size)
            baseline_single(p)  # warm the page cache
        one = median_times(
            {"hashlib.file_digest": lambda: baseline_single(paths[0]), "modelguard": lambda: hash_file(paths[0])},
            args.repeat,
        )
        many = median_times(
            {
                "sequential single-core": lambda: [baseline_single(p) for p in paths],
                "modelguard parallel": lambda: hash_files(paths),
            },
            args.repeat,
        )
        ceiling = parallel_ceiling(args.repeat)
        rss, _ = child_peak_rss_mb(
            "from modelguard.store.digest import hash_files\nimport sys\nhash_files(sys.argv[1:])", paths
        )
        gib = size / (1 << 30)
        emit(
            {
                "cpus": os.cpu_count(),
                "loadavg": os.getloadavg(),
                "file_gib": gib,
                "one_file": {
                    "baseline_s": round(one["hashlib.file_digest"], 3),
                    "modelguard_s": round(one["modelguard"], 3),
                    "baseline_gib_s": round(gib / one["hashlib.file_digest"], 2),
                    "ratio_vs_single_core": round(one["hashlib.file_digest"] / one["modelguard"], 2),
                    "target": ">= 0.9",
                },
                "snapshot": {
                    "files": len(paths),
                    "sequential_s": round(many["sequential single-core"], 3),
                    "modelguard_s": round(many["modelguard parallel"], 3),
                    "ratio_vs_single_core": round(many["sequential single-core"] / many["modelguard parallel"], 2),
                    "target": ">= 1.7",
                    "two_thread_hashlib_ceiling_now": round(ceiling, 2),
                },
                "peak_rss_mb_hashing_all": round(rss, 1),
            }
        )


if __name__ == "__main__":
    main()
