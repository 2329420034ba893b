"""The one way modelguard replaces a file: old or new content, never half-written.

Temp file in the same folder (so the rename never crosses a filesystem), write, fsync, chmod,
``os.replace``, then fsync the folder (best effort: some filesystems refuse a folder fsync).
Used for the lockfile, signatures, policy edits, reports and the verified cache's records.

Symlinks: ``os.replace`` never follows one (it replaces the link itself), so the only way a write
goes through a link is on purpose, here: a link whose target stays inside the link's own folder
(``policy.toml -> shared/org-policy.toml``) has its target replaced and stays a link. A link that
leads out of that folder, or loops, is refused (MG-L024): a lockfile or signature committed as a
link to ``~/.bashrc`` must not make ``modelguard lock`` or ``sign`` write there.

Secrets: a payload holding the Hub token or an API key (:mod:`modelguard.report.redact`) is never
written (MG-L023, exit 1): every lockfile, signature, record, policy edit and report passes here.

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

from modelguard.errors import RejectedError, UnreadableError, UsageError
from modelguard.report.redact import holds_secret


def replace_file(path: str | os.PathLike[str], data: bytes | str, *, mode: int | None = None) -> None:
    """Atomically make ``path`` hold ``data`` (str is written as UTF-8).

    ``mode`` defaults to the existing file's mode, else 0o644: these are files for a team and
    version control, and mkstemp's 0o600 would hide them. A symlink inside its folder is followed
    (its target is replaced, the link stays); one leading outside is refused (see the module docstring).
    """
    target = write_target(path)
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            mode = 0o644
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if holds_secret(payload):
        raise RejectedError(f"refusing to write {os.fspath(path)}: it would contain the Hub token or an API key "
                            "(a server echoing it back?); nothing was written; revoke the secret and check "
                            "--endpoint", rule="MG-L023")
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


def write_target(path: str | os.PathLike[str]) -> Path:
    """The file a write of ``path`` replaces: ``path`` itself, or the target of a link that stays in its folder.

    Raises :class:`UsageError` (MG-L024) for a link that leads outside its folder, dangles there, or loops.
    """
    link = Path(os.path.abspath(path))
    if not link.is_symlink():
        return link
    try:
        folder, real = link.parent.resolve(), link.resolve()
    except (OSError, RuntimeError):  # a loop of links
        real = None
    if real is None or not real.is_relative_to(folder):
        where = f"to {real}, outside {link.parent}" if real is not None else "that loops"
        raise UsageError(f"refusing to write {os.fspath(path)}: it is a symlink {where}; remove the link or write "
                         "to the real path", rule="MG-L024")
    return real


def _not_written(path: str | os.PathLike[str], e: OSError) -> UnreadableError:
    return UnreadableError(f"cannot write {os.fspath(path)}: {e.strerror or e}; nothing was changed "
                           "(check the path's permissions and free space)")
