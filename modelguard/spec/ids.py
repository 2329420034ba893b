"""Validators for identifiers that cross a trust boundary: repo ids, commits, digests, repo paths,
and the shape of a token or API key before it goes into an HTTP header.

Used on what the user writes (manifest, policy), on what modelguard reads back (lockfile) and
on what a Hub answers. Each validator returns ``None`` when the value is acceptable, else a short
reason a caller puts into its own typed error. Pure: no I/O, no exceptions of its own.
"""

from __future__ import annotations

import re

REPO_ID_MAX = 96
"""The Hub's limit on the length of ``org/name``."""

_REPO_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_ORG = _REPO_PART
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA1 = _COMMIT
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def is_commit(value: str) -> bool:
    """A full git commit id as the Hub writes it: 40 lowercase hex digits."""
    return bool(_COMMIT.match(value))


def is_sha256(value: str) -> bool:
    return bool(_SHA256.match(value))


def is_sha1(value: str) -> bool:
    return bool(_SHA1.match(value))


def repo_id_problem(repo: str) -> str | None:
    """Why ``repo`` is not a Hub model id of the form ``org/name``, or ``None``."""
    if len(repo) > REPO_ID_MAX:
        return f"is longer than {REPO_ID_MAX} characters"
    parts = repo.split("/")
    if len(parts) != 2:
        return "must be of the form org/name (exactly one '/')"
    for part in parts:
        if not _REPO_PART.match(part):
            return "may only use letters, digits, '-', '_' and '.', and must start and end with a letter or digit"
    if "--" in repo or ".." in repo:
        return "must not contain '--' or '..'"
    if repo.endswith(".git"):
        return "must not end with '.git'"
    return None


def org_problem(org: str) -> str | None:
    """Why ``org`` is not a Hub user or organisation name, or ``None``."""
    if not _ORG.match(org) or "--" in org or ".." in org or len(org) > REPO_ID_MAX:
        return "is not a Hub organisation name (letters, digits, '-', '_', '.'; no '--' or '..')"
    return None


def entry_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a manifest entry handle, or ``None``."""
    if not _NAME.match(name):
        return "must be 1-128 characters of letters, digits, '-', '_' or '.', starting with a letter or digit"
    return None


def repo_path_problem(path: str) -> str | None:
    """Why ``path`` is not a safe repo-relative POSIX file path, or ``None``.

    Refused: empty, absolute, backslashes, NUL or other control characters, ``.``/``..``
    segments and empty segments (``a//b``, a trailing ``/``): any of them could point a write
    outside the folder a file is staged in, or name the same file twice.
    """
    if not path:
        return "is empty"
    if len(path.encode("utf-8", "surrogatepass")) > 4096:
        return "is longer than 4096 bytes"
    if path.startswith("/"):
        return "is absolute"
    if "\\" in path:
        return "contains a backslash"
    if _CONTROL.search(path):
        return "contains a control character"
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            return "has an empty, '.' or '..' segment"
    return None


def revision_problem(revision: str) -> str | None:
    """Why ``revision`` is not a usable branch, tag or commit name, or ``None``."""
    if not revision:
        return "is empty"
    if len(revision) > 255:
        return "is longer than 255 characters"
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in revision) or "\\" in revision:
        return "contains whitespace, a control character or a backslash"
    if ".." in revision or revision.startswith("/") or revision.endswith("/"):
        return "contains '..' or starts or ends with '/'"
    if len(revision) == 40 and re.fullmatch(r"[0-9a-fA-F]{40}", revision) and not is_commit(revision):
        return "looks like a commit id but is not lowercase; write commit ids in lowercase hex"
    return None


def secret_problem(secret: str) -> str | None:
    """Why a token or API key cannot go into an HTTP header as written, or ``None``.

    Tokens and keys are printable ASCII with no spaces; anything else is a paste gone wrong (a
    line break, a second word, a typographic character). The reason never quotes the value.
    """
    if "\n" in secret or "\r" in secret:
        return "holds a line break"
    if _CONTROL.search(secret):
        return "holds a control character"
    if not secret.isascii():
        return "holds a non-ASCII character"
    if any(c.isspace() for c in secret):
        return "holds a space"
    return None
