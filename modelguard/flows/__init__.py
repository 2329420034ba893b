"""The commands as library flows, in the order a model travels: lock -> fetch -> verify -> load.

* :mod:`~modelguard.flows.lock` — resolve the manifest into ``modelguard.lock`` (Hub metadata only).
* :mod:`~modelguard.flows.fetch` — download into quarantine, hash, scan, apply policy, admit;
  :mod:`~modelguard.flows.fetch_outcome` — each model's outcome, whatever failed inside it.
* :mod:`~modelguard.flows.verify` — the CI gate: offline proof that the cache holds what was locked.
* :mod:`~modelguard.flows.snapshot` — one admitted snapshot folder for a loader, or the exception
  (from the rule table) that says why not.
* :mod:`~modelguard.flows.load` — verified paths and byte-exact loading for Python loaders.
* :mod:`~modelguard.flows.revoke` — a revocation: the policy entry, the eviction, the audit records, as one action.
* :mod:`~modelguard.flows.recheck` — one admitted snapshot rechecked from its bytes (integrity, a fresh
  scan, the record compared, re-attestation): what verify, ``snapshot()`` and the loaders share.
* :mod:`~modelguard.flows.serve` — the whole cache checked before it is handed to loaders
  (``modelguard env``, ``hf_offline()``).
* :mod:`~modelguard.flows.prune` — remove what the cache holds that no admitted snapshot accounts for.
* :mod:`~modelguard.flows.on_record` — admissions and evictions that happen only after their audit line.

Each flow wires :mod:`modelguard.spec`, :mod:`modelguard.hub`, :mod:`modelguard.store`,
:mod:`modelguard.scan` and :mod:`modelguard.trust`; none renders output or exits.
"""
