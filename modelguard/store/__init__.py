"""The verified cache on disk: where admitted snapshots live and how bytes get there.

* :mod:`~modelguard.store.cache` — the cache root, its layout, its writer lock, quarantine, reading records.
* :mod:`~modelguard.store.publish` — admission (record first, ref last, undone on failure), eviction
  (set aside, undoable), re-attestation and the read-only sealing of admitted content.
* :mod:`~modelguard.store.inventory` — everything in the cache no admitted snapshot accounts for.
* :mod:`~modelguard.store.admission` — the typed admission record written beside each snapshot
  (:class:`~modelguard.store.admission.AdmissionRecord`, versioned ``from_json`` / ``to_json``).
* :mod:`~modelguard.store.integrity` — are the files a loader would read the locked bytes? (layout links,
  lexical links, full or fingerprint-gated re-hashing)
* :mod:`~modelguard.store.digest` — streaming SHA-256 (and git blob SHA-1) at hardware speed.
* :mod:`~modelguard.store.atomic` — the one way a file is replaced: old or new, never half-written.
* :mod:`~modelguard.store.audit` — the append-only audit log.

Decides nothing about trust: verdicts come from :mod:`modelguard.trust` and :mod:`modelguard.scan`.
"""
