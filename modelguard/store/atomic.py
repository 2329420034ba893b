"""The one way modelguard replaces a file: old or new content, never half-written.

Temp file in the same folder (so the rename never crosses a filesystem), write, fsync, chmod,
``os.replace``, then fsync the folder (best effort: some filesystems refuse a folder fsync).
Used for the lockfile, signatures, policy edits, reports and the verified cache's records.

A write that fails is an expected failure, not a bug: a missing folder is the caller's input
(:class:`~modelguard.errors.UsageError`, exit 2); any other ``OSError`` (permissions, read-only or
full disk) is :class:`~modelguard.errors.UnreadableError` (exit 3). Either way nothing was changed.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from modelguard.errors import UnreadableError, UsageError


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
        except (FileNotFoundError, NotADirectoryError):
            mode = 0o644
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except (FileNotFoundError, NotADirectoryError) as e:
        if target.parent.is_dir():  # a folder that takes no new files (/proc)
            raise _not_written(path, e) from None
        raise UsageError(f"cannot write {os.fspath(path)}: the folder {target.parent} does not exist; "
                         "create it or choose another path") from None
    except OSError as e:
        raise _not_written(path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _not_written(path, e) from None
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _not_written(path: str | os.PathLike[str], e: OSError) -> UnreadableError:
    return UnreadableError(f"cannot write {os.fspath(path)}: {e.strerror or e}; nothing was changed "
                           "(check the path's permissions and free space)")
