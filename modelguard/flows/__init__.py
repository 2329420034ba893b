"""The commands as library flows, in the order a model travels: lock -> fetch -> verify -> load.

* :mod:`~modelguard.flows.lock` — resolve the manifest into ``modelguard.lock`` (Hub metadata only).
* :mod:`~modelguard.flows.fetch` — download into quarantine, hash, scan, apply policy, admit.
* :mod:`~modelguard.flows.verify` — the CI gate: offline proof that the cache holds what was locked.
* :mod:`~modelguard.flows.load` — verified paths and byte-exact loading for Python loaders.

Each flow wires :mod:`modelguard.spec`, :mod:`modelguard.hub`, :mod:`modelguard.store`,
:mod:`modelguard.scan` and :mod:`modelguard.trust`; none renders output or exits.
"""
