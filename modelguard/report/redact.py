"""The secrets this process holds, and their removal from every text it writes.

A server that echoes the Hub token back (as a file name, a link, a header) would otherwise carry
it into a lockfile line, an admission record, a report or an error message. So the secrets in
play are known here: the Hub token modelguard authenticates with (:func:`register`, called where
the client is made) and the values of environment variables named as secrets (``HF_TOKEN``,
``OPENAI_API_KEY``, ``MODELGUARD_SIGNING_KEY``, ...), and

* :func:`redact` replaces each with ``[redacted]`` in text about to be shown (errors, reports), and
  :func:`redact_registered` the ones in use in every finding and error as it is made;
* :func:`holds_secret` tells a writer that a file would contain one, so the lockfile, signatures,
  records and policy edits are refused instead (MG-L023, :mod:`modelguard.store.atomic`).

Must not: log, print or return a secret; treat a short or path-like value as one (``true``, a
``*_TOKEN_PATH`` naming a file) — redacting those would mangle ordinary text.
"""

from __future__ import annotations

import os
import re

REDACTED = "[redacted]"
_MIN = 8
"""shorter values are not secrets worth the name, and would match ordinary text"""
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|SIGNING_KEY|PRIVATE|CREDENTIAL", re.IGNORECASE)
_NOT_A_VALUE = re.compile(r"(?:PATH|FILE|DIR|HOME|URL|ENDPOINT|NAME|ID)$", re.IGNORECASE)
_registered: set[str] = set()


_registered_longest_first: tuple[str, ...] = ()


def register(secret: str | None) -> None:
    """Remember ``secret`` (the Hub token, a provider key in use) for the rest of the process."""
    global _registered_longest_first
    if secret and len(secret.strip()) >= _MIN:
        _registered.add(secret.strip())
        _registered_longest_first = tuple(sorted(_registered, key=len, reverse=True))


_cache: tuple[object, tuple[str, ...]] | None = None
_names: tuple[str, ...] = ()
"""the secret-named variables of the last full look at the environment"""


def secrets() -> tuple[str, ...]:
    """Every secret known now, longest first (so a token containing another is replaced whole).

    Called for every finding and error made, so the variables' values are read in full only when
    they may have changed: a variable added, removed or renamed, or a secret-named one set anew.
    """
    global _cache, _names
    if _cache is not None and _cache[0] == _key():
        return _cache[1]
    found = set(_registered)
    names = []
    for name, value in os.environ.items():
        if _SECRET_NAME.search(name) and not _NOT_A_VALUE.search(name):
            names.append(name)
            found.update(line.strip() for line in value.splitlines() if len(line.strip()) >= _MIN)
    _names = tuple(names)
    result = tuple(sorted(found, key=len, reverse=True))
    _cache = (_key(), result)
    return result


def _key() -> object:
    return tuple(os.environ), tuple(os.environ.get(n) for n in _names), len(_registered)


def redact(text: str) -> str:
    """``text`` with every known secret replaced by ``[redacted]``."""
    return redact_all(text)[0]


def redact_all(*texts: str, known: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Each of ``texts`` redacted, looking up the secrets once (``known``: these secrets only)."""
    if all(len(t) < _MIN for t in texts):
        return texts
    known = secrets() if known is None else known
    out = []
    for text in texts:
        for secret in known:
            if secret in text:
                text = text.replace(secret, REDACTED)
        out.append(text)
    return tuple(out)


def redact_registered(*texts: str) -> tuple[str, ...]:
    """:func:`redact_all` for the secrets in use (registered), without looking at the environment: cheap
    enough for every finding and error made. What is shown or written goes through :func:`redact` too."""
    if not _registered_longest_first:
        return texts
    return redact_all(*texts, known=_registered_longest_first)


def holds_secret(data: str | bytes) -> bool:
    """Whether ``data`` contains a known secret (as text, or as its UTF-8 bytes)."""
    for secret in secrets():
        needle = secret.encode("utf-8") if isinstance(data, bytes) else secret
        if needle in data:  # type: ignore[operator]
            return True
    return False
