"""verify with the re-scan vs verify without it, on an admitted 1 GiB torch checkpoint (issue 13).

Since issue 13, ``verify`` recomputes every verdict from the bytes: besides re-hashing each admitted
file it scans it again (the scanner reads only a checkpoint's structure, never its tensors). Target:
verify with the re-scan costs <= 1.05x verify without it.

Both are measured in one run, alternating, on the same admitted snapshot (page cache warm, so the
figure is about CPU, not the disk):

* ``verify`` — :func:`modelguard.flows.verify.verify_locked` exactly as shipped (full SHA-256 of every
  blob, the re-scan, the record compared with it, the inventory of the cache);
* ``verify_without_rescan`` — the same call with its one re-scan step
  (:func:`modelguard.flows.recheck.rescan`) answered from the admission record's stored results,
  which is what verify did before issue 13. Swapping that one function (here, in the bench only) keeps
  every other step identical, so the ratio is the cost of the re-scan and nothing else.

For context it also times the two parts alone: SHA-256 of the checkpoint (``hash_file``) and one
scan of it (``scan_file``). The checkpoint is written as ``torch.save`` lays it out (bench/scan_data.py,
one GLOBAL per tensor, the analyser's slowest path) and admitted through modelguard's own admission.
Run: python bench/bench_verify.py [--size-mib 1024] [--repeat 7] [--dir D]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import scan_data
from _util import emit, median_times

from modelguard.flows import recheck
from modelguard.flows.verify import verify_locked
from modelguard.models import FileResult, Severity
from modelguard.scan import scan_file
from modelguard.spec.lockfile import write_lockfile
from modelguard.spec.manifest import parse_manifest, spec_sha256
from modelguard.spec.types import LockedFile, LockedHFModel, Lockfile, Manifest
from modelguard.store.admission import blob_name, build_record
from modelguard.store.cache import Layout, StagedFile, new_quarantine, read_record, writer_lock
from modelguard.store.digest import hash_file
from modelguard.store.integrity import Group
from modelguard.store.publish import admit
from modelguard.trust.evaluate import scan_and_evaluate, scanner_fingerprint

COMMIT = "0123456789abcdef0123456789abcdef01234567"
MANIFEST = '[policy]\nallowed-orgs = ["acme"]\n\n[[hf-model]]\nname = "big"\nrepo = "acme/big"\n'


def admitted_project(base: Path, size: int) -> tuple[Lockfile, Manifest, Path, Path]:
    """A manifest, its lock and a cache holding the checkpoint admitted as modelguard admits it."""
    source = base / "pytorch_model.bin"
    scan_data.torch_zip_checkpoint(source, size)
    digests = hash_file(source)
    manifest = parse_manifest(MANIFEST, source=str(base / "modelguard.toml"))
    lf = LockedFile(path="pytorch_model.bin", size=digests.size, sha256=digests.sha256, published="lfs-sha256")
    model = LockedHFModel(name="big", repo="acme/big", requested_revision="main", commit=COMMIT, files=(lf,),
                          spec_sha256=spec_sha256(manifest.hf_models[0]))
    lock = Lockfile(lock_version=1, created_by="bench", manifest_sha256=manifest.sha256,
                    policy_sha256=manifest.policy.sha256, hf_models=(model,))
    write_lockfile(str(base / "modelguard.lock"), lock)
    cache = base / "cache"
    layout = Layout(cache)
    with writer_lock(layout):
        q = new_quarantine(layout, "bench")
        staged = q / "download"
        shutil.copyfile(source, staged)
        result = scan_and_evaluate(staged, policy=manifest.policy, repo=model.repo, rel_path=lf.path,
                                   display=lf.path, size=lf.size, sha256=lf.sha256)
        group = Group(model.repo, model.commit, (model,))
        admit(layout, model.repo, model.commit, [StagedFile(lf.path, blob_name(lf), staged)], group.refs,
              build_record(group, {lf.path: result}, manifest.policy, Severity.MEDIUM, scanner_fingerprint()))
    source.unlink()
    return lock, manifest, cache, layout.blob(model.repo, blob_name(lf))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--dir", default=None, help="work folder (default: a temporary one, removed after)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-verify-", dir=args.dir))
    try:
        lock, manifest, cache, blob = admitted_project(base, args.size_mib << 20)
        hash_file(blob)  # warm the page cache: the figure is the CPU's, not the disk's
        record = read_record(Layout(cache), "acme/big", COMMIT)
        assert record is not None
        stored = record.results() or {}

        def from_record(repo: str, files: object, blobs: dict[str, Path], policy: object) -> dict[str, FileResult]:
            return {path: stored[path] for path in blobs}

        def with_rescan() -> None:
            report = verify_locked(lock, manifest, cache_dir=cache)
            assert report.ok, report.failing()

        def without_rescan() -> None:
            shipped = recheck.rescan
            recheck.rescan = from_record  # type: ignore[assignment]  # bench only: the pre-issue-13 step
            try:
                report = verify_locked(lock, manifest, cache_dir=cache)
            finally:
                recheck.rescan = shipped
            assert report.ok, report.failing()

        times = median_times({"verify": with_rescan, "verify_without_rescan": without_rescan,
                              "sha256_alone": lambda: hash_file(blob), "scan_alone": lambda: scan_file(blob)},
                             args.repeat)
        emit({
            "file_mib": args.size_mib, "repeat": args.repeat, "load_avg_1min": os.getloadavg()[0],
            "median_s": {k: round(v, 4) for k, v in times.items()},
            "ratio_verify_over_verify_without_rescan": round(times["verify"] / times["verify_without_rescan"], 4),
            "scan_share_of_verify": round(times["scan_alone"] / times["verify"], 4),
        })
    finally:
        for dirpath, dirnames, _ in os.walk(base):
            for d in dirnames:
                os.chmod(os.path.join(dirpath, d), 0o755)  # the cache is sealed read-only
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
