"""A loopback fake of the Hugging Face Hub: the demo's Hub and the test suite's.

* :mod:`.model`: repos, commits, files and injectable :class:`Fault` values (pure data).
* :mod:`.transport`: threaded loopback HTTP servers that record every request.
* :mod:`.server`: :class:`FakeHub`, which answers what huggingface_hub asks (model info, tree
  listing, resolve with CDN redirects, ``X-Error-Code`` errors) and misbehaves on request.

Standard library only, so ``modelguard demo`` needs nothing else; it binds 127.0.0.1 only.
"""

from __future__ import annotations

from modelguard.demo.fakehub.model import FakeFile, Fault, git_blob_sha1, lfs_pointer, sha256
from modelguard.demo.fakehub.server import FakeHub
from modelguard.demo.fakehub.transport import RecordedRequest

__all__ = ["FakeFile", "FakeHub", "Fault", "RecordedRequest", "git_blob_sha1", "lfs_pointer", "sha256"]
