"""The one validator per identifier that crosses a trust boundary: repo ids, orgs, commits, digests,
blob names, repo paths, revisions, lock entry names, and the shape of a token or API key.

Used on what the user writes (manifest, policy, ``--scope``, revocation targets), on what
modelguard reads back (lockfile, admission records, cache folders) and on what a Hub answers, so
every layer accepts and refuses exactly the same strings. Each ``*_problem`` function returns
``None`` when the value is acceptable, else a short reason a caller puts into its own typed error
(``UsageError`` for the user's input, ``LockfileError`` for the lock, ``IntegrityError`` for a Hub);
each ``is_*`` predicate is its yes/no form. Every pattern is matched against the *whole* value
(``re.fullmatch``): ``$`` would also match before a trailing newline, so ``"tiny\\n"`` is refused.

Pure: no I/O, no exceptions of its own.

**Repo ids follow the rule the Hub enforces** (huggingface_hub ``validate_repo_id``, mirroring the
Hub's own name check): a namespace and a name, each 1-96 ASCII letters, digits, ``_``, ``-`` or
``.``, neither starting nor ending with ``-`` or ``.``; no ``--`` or ``..`` anywhere; not ending in
``.git``. One rule is modelguard's own: the namespace is required. A one-part legacy id (``gpt2``)
names no org for ``allowed-orgs`` to decide on, and the Hub now serves those models under an org
(``openai-community/gpt2``); ``--`` is refused because the cache folder ``models--{org}--{name}``
must map back to exactly one repo.
"""

from __future__ import annotations

import re
import unicodedata

from modelguard.spec import limits

REPO_PART_MAX = 96
"""The Hub's limit on the length of a namespace or a repo name."""

REPO_PATH_MAX = 1024
"""Characters in a repo file path; a longer "path" from a lockfile or a Hub is a lie or an attack."""

_REPO_PART = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ANY_CASE_COMMIT = re.compile(r"[0-9a-fA-F]{40}")


# --- hashes --------------------------------------------------------------------------------------


def is_commit(value: object) -> bool:
    """A full git commit id as the Hub writes it: 40 lowercase hex digits."""
    return isinstance(value, str) and _COMMIT.fullmatch(value) is not None


def is_sha1(value: object) -> bool:
    """A git blob SHA-1: 40 lowercase hex digits."""
    return is_commit(value)


def is_sha256(value: object) -> bool:
    """A SHA-256 digest: 64 lowercase hex digits."""
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def is_blob_name(value: object) -> bool:
    """A Hub ETag and cache blob name: the git blob SHA-1 or the LFS SHA-256, nothing else.

    huggingface_hub names cache files after the ETag: anything else could be a path (``../../x``).
    """
    return is_sha1(value) or is_sha256(value)


# --- repos and orgs ------------------------------------------------------------------------------


def org_problem(org: str) -> str | None:
    """Why ``org`` is not a Hub user or organisation name, or ``None``."""
    if not _REPO_PART.fullmatch(org) or "--" in org or ".." in org:
        return (f"is not a Hub organisation name (1-{REPO_PART_MAX} letters, digits, '-', '_', '.'; not starting "
                "or ending with '-' or '.'; no '--' or '..')")
    return None


def repo_id_problem(repo: str) -> str | None:
    """Why ``repo`` is not a Hub model id of the form ``org/name``, or ``None`` (see the module docstring)."""
    parts = repo.split("/")
    if len(parts) != 2:
        return "must be of the form org/name (exactly one '/')"
    if not all(_REPO_PART.fullmatch(part) for part in parts):
        return (f"may only use letters, digits, '-', '_' and '.' ({REPO_PART_MAX} at most on each side of the '/'), "
                "and must not start or end with '-' or '.'")
    if "--" in repo or ".." in repo:
        return "must not contain '--' or '..'"
    if repo.endswith(".git"):
        return "must not end with '.git'"
    return None


def is_repo_id(value: object) -> bool:
    return isinstance(value, str) and repo_id_problem(value) is None


def scope_problem(scope: str) -> str | None:
    """Why ``scope`` is not ``"*"``, an org or an ``org/name`` repo (safe globals, signers), or ``None``."""
    if scope == "*":
        return None
    problem = repo_id_problem(scope) if "/" in scope else org_problem(scope)
    return f'{problem}; use "*", an org or org/name' if problem else None


def revocation_target_problem(target: str) -> str | None:
    """Why ``target`` is not ``org/name@<40-hex commit>`` or ``sha256:<64-hex digest>``, or ``None``."""
    if target.startswith("sha256:"):
        if is_sha256(target[len("sha256:"):]):
            return None
        return "sha256: must be followed by 64 lowercase hex digits"
    repo, at, commit = target.partition("@")
    if at and is_repo_id(repo) and is_commit(commit):
        return None
    return ("must be org/name@<40-hex commit> or sha256:<64-hex digest> (a branch or tag can move; revoke the "
            "commit it pointed to)")


# --- names and paths -----------------------------------------------------------------------------


def entry_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a manifest / lock entry handle, or ``None``."""
    if not _NAME.fullmatch(name):
        return "must be 1-128 characters of letters, digits, '-', '_' or '.', starting with a letter or digit"
    return None


def _invisible(text: str) -> bool:
    """NUL, C0/C1 controls, and invisible format characters (bidi overrides, zero-width) that make a
    name display as another."""
    return any(unicodedata.category(c) in ("Cc", "Cf") for c in text)


def repo_path_problem(path: str) -> str | None:
    """Why ``path`` is not a safe repo-relative POSIX file path, or ``None``.

    Refused: empty, longer than :data:`REPO_PATH_MAX`, absolute, backslashes, control or invisible
    formatting characters, ``.``/``..`` segments and empty segments (``a//b``, a trailing ``/``):
    any of them could point a write outside the folder a file is staged in, name the same file
    twice, or show a reviewer another name than the one a loader opens.
    """
    if not path:
        return "is empty"
    if len(path) > REPO_PATH_MAX:
        return f"is longer than {REPO_PATH_MAX} characters"
    if path.startswith("/"):
        return "is absolute"
    if "\\" in path:
        return "contains a backslash"
    if _invisible(path):
        return "contains NUL, a control or an invisible formatting character"
    if any(segment in ("", ".", "..") for segment in path.split("/")):
        return "has an empty, '.' or '..' segment"
    return None


def storable_path_problem(path: str) -> tuple[str, str] | None:
    """(rule, why) when the repo path ``path`` names a file no common filesystem can hold, or ``None``.

    A segment longer than :data:`~modelguard.spec.limits.NAME_MAX` bytes (MG-H136) or a path longer
    than the ``PATH_BYTES`` budget (MG-H137), both counted in UTF-8 bytes as the filesystem counts
    them: found here, at lock, such a name would otherwise surface as an ``OSError`` half-way through
    admitting a snapshot.
    """
    longest = max(path.split("/"), key=lambda segment: len(segment.encode("utf-8", "surrogatepass")))
    if len(longest.encode("utf-8", "surrogatepass")) > limits.NAME_MAX:
        return "MG-H136", (f"has a segment of {len(longest.encode('utf-8', 'surrogatepass'))} bytes; no common "
                           f"filesystem stores a name over {limits.NAME_MAX} bytes")
    size = len(path.encode("utf-8", "surrogatepass"))
    if size > limits.active().path_bytes:
        return "MG-H137", limits.over(limits.BUDGETS.path_bytes, f"is {size} bytes long, which")
    return None


def fold(path: str) -> str:
    """The name a case-insensitive, normalising filesystem (macOS, Windows) stores ``path`` under."""
    return unicodedata.normalize("NFC", path).casefold()


def revision_problem(revision: str) -> str | None:
    """Why ``revision`` is not a usable branch, tag or commit name, or ``None``."""
    if not revision:
        return "is empty"
    if len(revision) > 255:
        return "is longer than 255 characters"
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in revision) or "\\" in revision or _invisible(revision):
        return "contains whitespace, a control character or a backslash"
    if ".." in revision or revision.startswith("/") or revision.endswith("/"):
        return "contains '..' or starts or ends with '/'"
    if _ANY_CASE_COMMIT.fullmatch(revision) and not is_commit(revision):
        return "looks like a commit id but is not lowercase; write commit ids in lowercase hex"
    return None


# --- secrets -------------------------------------------------------------------------------------


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
