"""The CLI views of what is not a verdict (a report has :mod:`modelguard.report.text`): a fetch plan
(``fetch --dry-run``) and the cache's contents (``list``).

Text for people (sizes in KiB/MiB/GiB, one line per model or snapshot) and JSON for scripts
(``modelguard/fetch-plan/v1``, ``modelguard/cache/v1``; sizes in bytes). Pure: returns strings.
"""

from __future__ import annotations

import json
from typing import Any

from modelguard.errors import UsageError
from modelguard.flows.plan import FetchPlan
from modelguard.store.listing import CacheListing

VIEW_FORMATS = ("text", "json")
"""an inventory or a plan is not a report: no SARIF (it has no findings to anchor)"""


def write_view(kind: str, view: FetchPlan | CacheListing, fmt: str, output: str | None) -> int:
    """Render ``view`` (``kind``: ``plan`` or ``listing``) to ``-o FILE`` atomically or to stdout
    (``-o -`` too), as reports are written; exit 0: neither is a verdict."""
    import sys

    from modelguard.cli._common import STDOUT
    from modelguard.report.redact import redact

    if fmt not in VIEW_FORMATS:
        raise UsageError(f"-f {fmt}: a {'fetch plan' if kind == 'plan' else 'cache listing'} is written as "
                         f"{' or '.join(VIEW_FORMATS)}")
    text = redact(render_plan(view, fmt) if isinstance(view, FetchPlan) else render_listing(view, fmt))
    if output and output != STDOUT:
        from modelguard.store.atomic import replace_file

        replace_file(output, text)
    else:
        sys.stdout.write(text)
    return 0


def size(n: int) -> str:
    """``n`` bytes for people: 512 B, 1.5 KiB, 32.0 MiB, 1.00 GiB."""
    if n < 1024:
        return f"{n} B"
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            value = n / scale
            return f"{value:.2f} {unit}" if unit in ("TiB", "GiB") else f"{value:.1f} {unit}"
    return f"{n} B"  # pragma: no cover - unreachable


def render_plan(plan: FetchPlan, fmt: str) -> str:
    if fmt == "json":
        doc: dict[str, Any] = {
            "schema": "modelguard/fetch-plan/v1", "command": "fetch", "dry-run": True, "source": plan.source,
            "download-bytes": plan.to_download, "files-to-download": plan.files_to_download,
            "models": [{"names": list(m.names), "repo": m.repo, "commit": m.commit, "action": m.action,
                        "reason": m.reason, "size": m.size, "download-bytes": m.to_download,
                        "files": [{"path": f.path, "size": f.size, "action": f.action, "download-bytes": f.to_download}
                                  for f in m.files]}
                       for m in plan.models],
        }
        return json.dumps(doc, indent=2) + "\n"
    lines = []
    for m in plan.models:
        head = f"{m.action.upper():<9} {', '.join(m.names)}  {m.repo}@{m.commit[:12]}"
        if m.action == "fetch":
            lines.append(f"{head}  {size(m.to_download)} to download (model: {size(m.size)}, {len(m.files)} files)")
            for f in m.files:
                what = {"download": "download", "reuse": "in the cache (re-hashed, not downloaded)",
                        "resume": f"resume: {size(f.size - f.to_download)} kept, {size(f.to_download)} left"}[f.action]
                lines.append(f"    {f.path}  {size(f.size)}  {what}")
        else:
            lines.append(f"{head}  ({m.reason})")
    where = f" from {plan.source}" if plan.source and plan.to_download else ""
    lines.append("")
    lines.append(f"DRY RUN: would download {size(plan.to_download)} in {plan.files_to_download} file(s){where}; "
                 "nothing was downloaded or changed")
    return "\n".join(lines) + "\n"


def render_listing(listing: CacheListing, fmt: str) -> str:
    if fmt == "json":
        doc: dict[str, Any] = {
            "schema": "modelguard/cache/v1", "root": str(listing.root), "bytes": listing.size,
            "snapshots": [{"repo": s.repo, "commit": s.commit, "state": s.state, "names": list(s.names),
                           "files": s.files, "bytes": s.size, "admitted-at": s.admitted_at}
                          for s in listing.snapshots],
            "loose-blobs": {"count": listing.loose_blobs, "bytes": listing.loose_bytes},
            "partial-downloads": [{"sha256": p.sha256, "size": p.size, "bytes": p.on_disk, "age-seconds": round(p.age)}
                                  for p in listing.partials],
            "partial-max-age-seconds": round(listing.partial_max_age),
            "strays": [{"kind": kind, "path": rel, "bytes": nbytes} for kind, rel, nbytes in listing.others],
        }
        return json.dumps(doc, indent=2) + "\n"
    lines = [f"{'STATE':<13} {'NAMES':<20} {'REPO@COMMIT':<48} {'FILES':>5} {'SIZE':>10}"]
    for s in listing.snapshots:
        names = ", ".join(s.names) or "-"
        lines.append(f"{s.state:<13} {names:<20} {s.repo + '@' + s.commit[:12]:<48} {s.files:>5} {size(s.size):>10}")
    if listing.loose_blobs:
        lines.append(f"{'loose':<13} {'-':<20} {'blobs no snapshot links to':<48} {listing.loose_blobs:>5} "
                     f"{size(listing.loose_bytes):>10}")
    for kind, rel, nbytes in listing.others:
        lines.append(f"{'stray':<13} {kind:<20} {rel[-48:]:<48} {'':>5} {size(nbytes):>10}")
    for p in listing.partials:
        left = max(0.0, listing.partial_max_age - p.age) / 3600
        lines.append(f"{'partial':<13} {'-':<20} {'sha256:' + p.sha256[:16] + '…':<48} {'':>5} {size(p.on_disk):>10}"
                     f"  of {size(p.size)}; a fetch resumes it; removed in {left:.0f} h if not")
    lines.append("")
    admitted = sum(1 for s in listing.snapshots if s.state == "admitted")
    lines.append(f"{listing.root}: {len(listing.snapshots)} snapshot(s), {admitted} admitted; "
                 f"{size(listing.size)} in all. `modelguard verify` checks the bytes")
    return "\n".join(lines) + "\n"
