"""Mirrors: admitted models published to an OCI registry, and read back by every machine of a fleet.

A tour, in flow order:

* :mod:`.reference` — ``oci://HOST[:PORT]/NAMESPACE``, repository names, tags, digests (pure).
* :mod:`.auth` — registry credentials (env, Docker ``config.json``, credential helpers) and challenges.
* :mod:`.transport` — HTTP to one registry: auth challenges (basic, bearer tokens), retries, redirects.
* :mod:`.oci` — the distribution client: blobs (Range, mount, upload), manifests, referrers;
  says why it is a small client on ``requests`` and not ``oras``.
* :mod:`.modelpack` — the CNCF ModelPack manifest, config and media types; modelguard's referrers.
* :mod:`.push` — ``modelguard push``: re-check each admitted snapshot, then publish it.
* :mod:`.source` — the byte source ``fetch`` uses: a locked file's bytes by digest, resumable;
  :mod:`.receive` writes and hashes them with no copy in between.

A mirror is untrusted exactly like the Hub: what ``fetch`` downloads from it goes through the same
quarantine -> hash -> scan -> policy -> admit path, and a blob that is not the locked bytes is
refused (MG-H001). Nothing here imports at package import time (CLI start-up).
"""
