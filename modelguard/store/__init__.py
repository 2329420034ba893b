"""The verified cache on disk: where admitted snapshots live and how bytes get there.

* :mod:`~modelguard.store.cache` — the cache root, its writer lock, quarantine and admission.
* :mod:`~modelguard.store.admission` — the typed admission record written beside each snapshot
  (:class:`~modelguard.store.admission.AdmissionRecord`, versioned ``from_json`` / ``to_json``).
* :mod:`~modelguard.store.integrity` — are the files a loader would read the locked bytes?
* :mod:`~modelguard.store.digest` — streaming SHA-256 (and git blob SHA-1) at hardware speed.
* :mod:`~modelguard.store.atomic` — the one way a file is replaced: old or new, never half-written.
* :mod:`~modelguard.store.audit` — the append-only audit log.

Decides nothing about trust: verdicts come from :mod:`modelguard.trust` and :mod:`modelguard.scan`.
"""
