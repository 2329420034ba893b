"""Changes to the verified cache that happen only on record: the audit line first, then the change.

An admission or an eviction that cannot be written to the audit log does not happen (fail closed,
:class:`~modelguard.errors.UnreadableError`, exit 3): the line states the intent before anything
moves, so the log never misses an action, and a failure after it is the next line's outcome. The
changes themselves are :mod:`modelguard.store.publish`'s (all or nothing). Call under the writer lock.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence
from typing import Any

from modelguard.errors import NoVerdictError
from modelguard.store import audit, publish
from modelguard.store.admission import AdmissionRecord
from modelguard.store.cache import Layout, StagedFile
from modelguard.store.integrity import Group

_NO_SPACE = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def admit(layout: Layout, group: Group, staged: Sequence[StagedFile], record: AdmissionRecord) -> None:
    """Log the intent, then admit ``group``'s snapshot; a failing disk is no verdict, with nothing admitted."""
    audit.append(layout.root, {"command": "fetch", "action": "admit", "outcome": "intent", "repo": group.repo,
                               "commit": group.commit, "model": ", ".join(group.names),
                               "files": {p: f.sha256 for p, f in sorted(group.files.items())}})
    try:
        publish.admit(layout, group.repo, group.commit, staged, group.refs, record)
    except OSError as e:
        what = "no space left" if e.errno in _NO_SPACE else (e.strerror or str(e))
        raise NoVerdictError(f"cannot admit {group.repo}@{group.commit[:12]} under {layout.root}: {what}; nothing "
                             "was admitted; free space and fetch again", rule="MG-H106") from None


def evict(layout: Layout, repo: str, commit: str, event: Mapping[str, Any]) -> None:
    """Log, then evict ``repo@commit`` when anything of it is in the cache (``event``: command and why)."""
    if layout.record(repo, commit).exists() or layout.snapshot(repo, commit).exists():
        audit.append(layout.root, {**event, "action": "evict", "repo": repo, "commit": commit})
        publish.evict(layout, repo, commit)
