"""``revoke``: refuse a commit or a file hash everywhere the policy applies, and evict it here.

Wires :mod:`modelguard.trust.revocation` (the target syntax, the policy edit, eviction under the
cache writer lock) with :mod:`modelguard.store.audit`: the log must be writable before anything
changes (fail closed: every revocation is on record), then the policy gets the entry, then every
admitted snapshot the target covers leaves the local verified cache, each step logged.

Must not render or print; must not change any policy key besides appending to ``revoked``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modelguard.spec import filenames
from modelguard.spec.types import Revocation
from modelguard.trust.revocation import Evicted

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Revoked:
    """What :func:`revoke` did."""

    entry: Revocation
    """the revocation in force for the target (an earlier one for the same target is kept as it was)"""
    policy_file: Path
    """the file that holds it: the manifest's ``[policy]``, its ``policy-file``, or the one given"""
    cache_root: Path
    evicted: tuple[Evicted, ...]
    """admitted snapshots removed from ``cache_root``"""


def revoke(target: str, reason: str, *, manifest: PathLike = filenames.MANIFEST, policy: PathLike | None = None,
           cache_dir: PathLike | None = None) -> Revoked:
    """See :func:`modelguard.api.revoke`."""
    from modelguard.store import audit
    from modelguard.store.cache import cache_root
    from modelguard.trust import revocation

    parsed = revocation.parse_target(target)
    root = cache_root(cache_dir)
    audit.ensure_writable(root)  # fail closed before changing anything: every revocation is on record
    file = revocation.policy_file_to_edit(manifest, policy)
    entry = revocation.add_revocation(file, parsed, reason)
    audit.append(root, {"command": "revoke", "action": "revoke", "target": entry.target,
                        "reason": entry.reason, "date": entry.date, "policy-file": str(file),
                        "repo": parsed.repo, "commit": parsed.commit})
    evicted = revocation.evict_revoked(root, parsed)
    for hit in evicted:
        audit.append(root, {"command": "revoke", "action": "evict", "target": entry.target,
                            "repo": hit.repo, "commit": hit.commit, "reason": entry.reason})
    return Revoked(entry=entry, policy_file=file, cache_root=root, evicted=tuple(evicted))
