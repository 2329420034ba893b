"""``prune``: remove from the verified cache everything no admitted snapshot accounts for.

What goes is exactly what :func:`modelguard.store.inventory.inventory` lists (what ``verify`` reports
as MG-H110 and MG-H109: repos, snapshots, refs, blobs, records and files that were not admitted,
links where the layout has none) plus quarantine leftovers of crashed runs. Admitted snapshots are
never touched, even when they fail their integrity check: ``fetch`` repairs those from the Hub.

Under the writer lock, so no fetch admits while it runs; the audit line listing what will be removed
is written before anything is (an action that cannot be recorded does not happen). Links are removed,
never followed. Renders nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelguard.store import audit
from modelguard.store.cache import Layout, remove_tree, sweep_quarantine, writer_lock
from modelguard.store.inventory import Stray, inventory
from modelguard.store.publish import opened


@dataclass(frozen=True)
class Pruned:
    """What :func:`prune` removed (or, with ``dry_run``, would remove)."""

    cache_root: Path
    removed: tuple[Stray, ...]
    dry_run: bool


def prune(root: Path, *, dry_run: bool = False) -> Pruned:
    """See :func:`modelguard.api.prune`."""
    layout = Layout(root)
    if dry_run:
        return Pruned(root, tuple(inventory(layout)), True)
    audit.ensure_writable(root)
    with writer_lock(layout):
        strays = inventory(layout)  # under the lock: what no running fetch is about to admit
        if strays:
            audit.append(root, {"command": "prune", "action": "prune",
                                "removes": [f"{s.kind}:{s.rel(layout)}" for s in strays]})
        for stray in strays:
            _remove(layout, stray)
        sweep_quarantine(layout)
    return Pruned(root, tuple(strays), False)


def _remove(layout: Layout, stray: Stray) -> None:
    """Remove one stray with the sealed folders above it opened (never above the cache root)."""
    parents = [p for p in reversed(stray.path.parents) if p != layout.root and layout.root in p.parents]
    with opened(*[p for p in parents if p.is_dir() and not p.is_symlink()]):
        if stray.path.is_symlink() or stray.path.exists():
            remove_tree(stray.path)
