"""althub: an independent loopback Hugging Face Hub for the tests (see ``server.py`` and README.md)."""

from tests.althub.repo import AltFile, AltRepo, blob_sha1, sha256
from tests.althub.server import AltHub

__all__ = ["AltFile", "AltHub", "AltRepo", "blob_sha1", "sha256"]
