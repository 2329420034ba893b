"""Decisions: what the policy, the signatures and the revocation list say about a model.

* :mod:`~modelguard.trust.evaluate` — scan each file, then apply the trust policy to the results.
* :mod:`~modelguard.trust.suppress` — ``[[policy.suppress]]``: reviewed findings, with expiry.
* :mod:`~modelguard.trust.revocation` — ``[[policy.revoked]]`` and ``modelguard revoke``.
* :mod:`~modelguard.trust.lock_signature` — signed lockfiles (DSSE, Ed25519 / ECDSA P-256).
* :mod:`~modelguard.trust.model_signature` — OpenSSF Model Signing bundles, verified offline.
* :mod:`~modelguard.trust.checks` — the trust checks each flow calls, one function per call site.
* :mod:`~modelguard.trust.freshness` — the one freshness (by content) and lockfile-signature check of
  every entry point.
* :mod:`~modelguard.trust.recompute` — verdicts of admitted files from their bytes; a record that
  disagrees is a finding.

Never talks to the network and never writes the cache.
"""
