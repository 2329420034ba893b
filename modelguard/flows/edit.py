"""``init``, ``add`` and ``remove``: change the manifest and lock it, as ``uv add`` and ``cargo add`` do.

:func:`init` writes the starting manifest, refusing to overwrite one. :func:`add` appends one entry
(keeping the file's comments and layout, :mod:`modelguard.spec.edit`) and then locks; :func:`remove`
drops one and locks. The manifest is written atomically, and when the lock that follows fails
(an org the policy refuses, a repo that does not exist, the Hub unreachable) the manifest is put
back exactly as it was, so a failed ``add`` leaves nothing half-done: the manifest and the
lockfile still agree. Must not render or print.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelguard.errors import ConfigError, UnreadableError, UsageError
from modelguard.spec import edit, filenames
from modelguard.store.atomic import replace_file

if TYPE_CHECKING:
    from modelguard.flows.lock import LockResult

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Edited:
    """What :func:`add` or :func:`remove` did."""

    name: str
    kind: str
    """``hf-model`` or ``provider-model``"""
    manifest: Path
    lock: LockResult | None
    """the lock that followed (None with ``lock=False``)"""


def init(manifest: PathLike = filenames.MANIFEST) -> Path:
    """Write the starting manifest at ``manifest``; :class:`UsageError` if a file is already there."""
    path = Path(manifest)
    if path.exists() or path.is_symlink():
        raise UsageError(f"{path} already exists; modelguard init never overwrites a manifest "
                         "(edit it, or `modelguard add` models to it)")
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent} is not a folder; create it first")
    text = edit.starting_manifest()
    # O_EXCL: a file that appears between the check and the write is not overwritten either.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise UsageError(f"{path} already exists; modelguard init never overwrites a manifest") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def parse_hf_target(target: str) -> tuple[str, str]:
    """``ORG/NAME[@REVISION]`` -> (repo, revision); the revision defaults to ``main``."""
    repo, sep, revision = target.strip().partition("@")
    if sep and not revision:
        raise UsageError(f"{target!r}: nothing after '@'; write ORG/NAME@REVISION or leave the revision out")
    return repo, revision or "main"


def add(
    target: str,
    *,
    manifest: PathLike = filenames.MANIFEST,
    lockfile: PathLike | None = None,
    name: str | None = None,
    provider: str | None = None,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    lock: bool = True,
    online: bool = False,
    endpoint: str | None = None,
    token: str | None = None,
) -> Edited:
    """Append ``target`` (``ORG/NAME[@REVISION]``, or a model ID with ``provider``) and lock it."""
    path = Path(manifest)
    before = _read(path)
    if provider is not None:
        if include or exclude:
            raise UsageError("--include/--exclude select repo files; a provider model has none")
        from modelguard.providers.catalog import normalise_provider

        kind, entry = "provider-model", name or edit.default_name(target)
        after = edit.with_provider_model(before, name=entry, provider=normalise_provider(provider),
                                         model=target.strip(), source=str(path))
    else:
        repo, revision = parse_hf_target(target)
        kind, entry = "hf-model", name or edit.default_name(repo)
        after = edit.with_hf_model(before, name=entry, repo=repo, revision=revision, include=include,
                                   exclude=exclude, source=str(path))
    return Edited(entry, kind, path, _write_and_lock(path, before, after, lockfile, lock=lock, online=online,
                                                     endpoint=endpoint, token=token))


def remove(name: str, *, manifest: PathLike = filenames.MANIFEST, lockfile: PathLike | None = None,
           lock: bool = True, endpoint: str | None = None, token: str | None = None) -> Edited:
    """Drop the entry ``name`` from the manifest and lock (the other entries keep their pins, no request)."""
    path = Path(manifest)
    before = _read(path)
    after, kind = edit.without_entry(before, name, source=str(path))
    return Edited(name, kind, path, _write_and_lock(path, before, after, lockfile, lock=lock, online=False,
                                                    endpoint=endpoint, token=token))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no manifest at {path}; run `modelguard init` to create one") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UnreadableError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None


def _write_and_lock(path: Path, before: str, after: str, lockfile: PathLike | None, *, lock: bool, online: bool,
                    endpoint: str | None, token: str | None) -> LockResult | None:
    replace_file(path, after)
    if not lock:
        return None
    from modelguard.flows.lock import lock as run_lock

    try:
        return run_lock(str(path), os.fspath(lockfile) if lockfile is not None else None, endpoint=endpoint,
                        token=token, online=online)
    except BaseException:
        # Like `uv add`: a manifest change that does not lock is undone, so manifest and lock still agree.
        replace_file(path, before)
        raise
