"""Rules of the verified cache proving itself (MG-H108..H129), as plain data.

:mod:`modelguard.report.rules` splices these into the integrity section of its one table (so they raise
:class:`~modelguard.errors.IntegrityError` and every finding still comes from
:func:`modelguard.report.rules.finding`); they live here only to keep that module within the size
limit. Plain tuples (id, severity, verdict, title, help), so this module imports nothing. Pure data.

Raised by :mod:`modelguard.store.integrity` (layout links), :mod:`modelguard.store.inventory`
(what no admitted snapshot accounts for) and :mod:`modelguard.trust.recompute` (a record that
disagrees with a fresh scan of the bytes).
"""

from __future__ import annotations

CACHE_RULES: tuple[tuple[str, str, str, str, str], ...] = (
    ("MG-H108", "critical", "suspicious", "Admission record disagrees with the bytes",
     "The admission record lists other findings than a fresh scan of the bytes on disk gives with the same "
     "scanner and policy: the record was edited or copied from another model. The bytes decide; re-admit "
     "with `modelguard fetch` and find out who wrote the cache."),
    ("MG-H109", "critical", "suspicious", "Symlink where the cache layout has none",
     "A folder or file of the verified cache (hub/, a repo, blobs/, snapshots/, refs/, admissions/, a blob) "
     "is a symbolic link, so what a loader reads is decided outside the cache. Replace the link with the "
     "real folder (`modelguard prune`, then `modelguard fetch`)."),
    ("MG-H110", "high", "suspicious", "Content in the verified cache that modelguard did not admit",
     "A repo, snapshot, ref, blob or file in the cache is not part of an admitted snapshot (another tool "
     "wrote it, or it was planted). Loaders pointed at the cache could read it; remove it with "
     "`modelguard prune` and fetch what you need."),
)
