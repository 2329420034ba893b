"""The secrets this process holds, and their removal from every text it writes.

A server that echoes the Hub token back (as a file name, a link, a header) would otherwise carry
it into a lockfile line, an admission record, a report or an error message. So the secrets in
play are known here: the Hub token modelguard authenticates with (:func:`register`, called where
the client is made) and the values of environment variables named as secrets (``HF_TOKEN``,
``OPENAI_API_KEY``, ``MODELGUARD_SIGNING_KEY``, ...), and

* :func:`redact` replaces each with ``[redacted]`` in text about to be shown (errors, reports);
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


def register(secret: str | None) -> None:
    """Remember ``secret`` (the Hub token in use) for the rest of the process."""
    if secret and len(secret.strip()) >= _MIN:
        _registered.add(secret.strip())


_cache: tuple[object, tuple[str, ...]] | None = None
_names: tuple[str, ...] = ()
"""the secret-named variables of the last full look at the environment"""


def secrets() -> tuple[str, ...]:
    """Every secret known now, longest first (so a token containing another is replaced whole).

    Called for every finding and error made, so the environment is looked at in full only when it
    may have changed: a variable added or removed, or a secret-named one set to another value.
    """
    global _cache, _names
    key = (len(os.environ), tuple(os.environ.get(n) for n in _names), len(_registered))
    if _cache is not None and _cache[0] == key:
        return _cache[1]
    found = set(_registered)
    names = []
    for name, value in os.environ.items():
        if _SECRET_NAME.search(name) and not _NOT_A_VALUE.search(name):
            names.append(name)
            found.update(line.strip() for line in value.splitlines() if len(line.strip()) >= _MIN)
    _names = tuple(names)
    result = tuple(sorted(found, key=len, reverse=True))
    _cache = ((len(os.environ), tuple(os.environ.get(n) for n in _names), len(_registered)), result)
    return result


def redact(text: str) -> str:
    """``text`` with every known secret replaced by ``[redacted]``."""
    if len(text) < _MIN:
        return text
    for secret in secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def holds_secret(data: str | bytes) -> bool:
    """Whether ``data`` contains a known secret (as text, or as its UTF-8 bytes)."""
    for secret in secrets():
        needle = secret.encode("utf-8") if isinstance(data, bytes) else secret
        if needle in data:  # type: ignore[operator]
            return True
    return False
