"""The one way modelguard replaces a file: old or new content, never half-written.

Temp file in the same folder (so the rename never crosses a filesystem), write, fsync, chmod,
``os.replace``, then fsync the folder (best effort: some filesystems refuse a folder fsync).
Used for the lockfile, signatures, policy edits, reports and the verified cache's records.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def replace_file(path: str | os.PathLike[str], data: bytes | str, *, mode: int | None = None) -> None:
    """Atomically make ``path`` hold ``data`` (str is written as UTF-8).

    ``mode`` defaults to the existing file's mode, else 0o644: these are files for a team and
    version control, and mkstemp's 0o600 would hide them. Symlinks are followed: the link's
    target is replaced, the link stays.
    """
    target = Path(path).resolve() if Path(path).is_symlink() else Path(os.path.abspath(path))
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = 0o644
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
