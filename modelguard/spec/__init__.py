"""What the user wrote and what was resolved: pure data and parsing, no network, no scanner.

* :mod:`~modelguard.spec.types` — frozen specs: manifest entries, the trust policy, lockfile pins.
* :mod:`~modelguard.spec.tomlsource` — TOML the user wrote -> values with line numbers and actionable errors.
* :mod:`~modelguard.spec.manifest` — ``modelguard.toml`` -> :class:`~modelguard.spec.types.Manifest`.
* :mod:`~modelguard.spec.policy` — ``[policy]`` / ``policy-file`` -> :class:`~modelguard.spec.types.Policy`.
* :mod:`~modelguard.spec.lockfile` — ``modelguard.lock`` <-> :class:`~modelguard.spec.types.Lockfile`.
* :mod:`~modelguard.spec.ids` — the one validator per identifier that crosses a trust boundary.
* :mod:`~modelguard.spec.filenames` — the one table of default file names.
* :mod:`~modelguard.spec.limits` — the budgets every untrusted input is held to (``MODELGUARD_LIMIT_*``).
* :mod:`~modelguard.spec.bounded` — reading untrusted bytes within a budget: capped reads, JSON depth.

Must not import :mod:`modelguard.hub`, :mod:`modelguard.store`, :mod:`modelguard.scan` or anything
that touches the network: reading a manifest or a lockfile never talks to anyone.
"""
