"""``revoke``: refuse a commit or a file hash everywhere the policy applies, and evict it here — as one action.

Wires :mod:`modelguard.trust.revocation` (the target syntax, the policy edit, what the target covers)
with :mod:`modelguard.store.publish` (eviction set aside in quarantine, undoable) and
:mod:`modelguard.store.audit`. All or nothing, under the cache's writer lock:

1. the policy edit is computed and read back by the policy parser (nothing written yet);
2. the audit line (target, reason, policy file, the snapshots it will evict) is written first: a
   revocation that cannot be recorded does not happen;
3. the policy file is replaced atomically;
4. the snapshots are set aside into quarantine; if that fails, what was set aside is put back and
   the policy file restored, and the log says the revocation was aborted;
5. only then are they deleted and one ``evict`` line per snapshot logged.

A crash (kill -9) between 3 and 5 leaves the revocation in force in the policy, which every fetch,
verify and ``snapshot()`` applies, and at worst a set-aside snapshot in quarantine, which no loader
reads and the next writer sweeps. Must not render or print; must not change any policy key besides
appending to ``revoked``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from modelguard.errors import UnreadableError
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
    from modelguard.store.atomic import replace_file
    from modelguard.store.cache import Layout, cache_root, writer_lock
    from modelguard.trust import revocation

    parsed = revocation.parse_target(target)
    root = cache_root(cache_dir)
    audit.ensure_writable(root)  # fail closed before changing anything: every revocation is on record
    edit = revocation.revocation_edit(revocation.policy_file_to_edit(manifest, policy), parsed, reason)
    entry, file = edit.entry, edit.file
    layout = Layout(root)
    with writer_lock(layout):
        hits = revocation.snapshots_holding(root, parsed)
        audit.append(root, {"command": "revoke", "action": "revoke", "target": entry.target,
                            "reason": entry.reason, "date": entry.date, "policy-file": str(file),
                            "repo": parsed.repo, "commit": parsed.commit,
                            "evicts": [f"{h.repo}@{h.commit}" for h in hits]})
        try:
            if edit.text is not None:
                replace_file(file, edit.text)
            held = revocation.set_aside_locked(layout, parsed)
        except BaseException as e:
            _abort(root, file, edit.original if edit.text is not None else None, entry.target)
            if isinstance(e, OSError):
                raise UnreadableError(f"cannot evict {entry.target} from {root}: {e.strerror or e}; nothing was "
                                      f"changed ({file} is as it was); fix the cache and revoke again") from None
            raise
        for _, aside in held:
            with contextlib.suppress(OSError):  # set aside already: a leftover is quarantine's, swept later
                aside.purge()
    evicted = [hit for hit, _ in held]
    try:
        for hit in evicted:
            audit.append(root, {"command": "revoke", "action": "evict", "target": entry.target,
                                "repo": hit.repo, "commit": hit.commit, "reason": entry.reason})
    except UnreadableError as e:
        raise UnreadableError(f"revoked {entry.target} and evicted {len(evicted)} snapshot(s), as the audit log's "
                              f"revoke line says, but the eviction lines could not be added: {e.message}") from None
    return Revoked(entry=entry, policy_file=file, cache_root=root, evicted=tuple(evicted))


def _abort(root: Path, file: Path, original: str | None, target: str) -> None:
    """Put the policy back as it was and say so in the log (best effort: the error that stopped the
    revocation is the one the caller sees)."""
    from modelguard.errors import ModelguardError
    from modelguard.store import audit
    from modelguard.store.atomic import replace_file

    with contextlib.suppress(ModelguardError, OSError):
        if original is not None:
            replace_file(file, original)
    with contextlib.suppress(ModelguardError, OSError):
        audit.append(root, {"command": "revoke", "action": "revoke", "target": target, "outcome": "aborted",
                            "policy-file": str(file)})
