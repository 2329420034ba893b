"""The one table of default file names: where modelguard looks when the user names no file.

``modelguard.toml`` (the manifest) and ``modelguard.lock`` (the lockfile) sit side by side; the
lockfile's signature is the lockfile's name plus ``.sig``; a model's own signature is ``model.sig``
at the root of its repo; the audit log is ``audit.log`` in the verified cache's root. Commands,
library calls, the renderers and the demo take their defaults from here, so a renamed default
changes everywhere at once. Pure: builds paths, never touches the disk.
"""

from __future__ import annotations

import os
from pathlib import Path

MANIFEST = "modelguard.toml"
LOCKFILE = "modelguard.lock"
LOCK_SIGNATURE_SUFFIX = ".sig"
MODEL_SIGNATURE = "model.sig"
AUDIT_LOG = "audit.log"

PathLike = str | os.PathLike[str]


def lockfile_beside(manifest: PathLike) -> str:
    """The default lockfile of ``manifest``: ``modelguard.lock`` in the manifest's folder."""
    return os.path.join(os.path.dirname(os.fspath(manifest)), LOCKFILE)


def manifest_beside(lockfile: PathLike) -> Path:
    """The manifest a lockfile was made from, by default: ``modelguard.toml`` in its folder."""
    return Path(lockfile).with_name(MANIFEST)


def lock_signature_of(lockfile: PathLike) -> Path:
    """Where the signature of ``lockfile`` lives: ``<lockfile>.sig``."""
    return Path(os.fspath(lockfile) + LOCK_SIGNATURE_SUFFIX)
