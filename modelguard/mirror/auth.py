"""Registry credentials, found the way every OCI client finds them, and the challenges that ask for them.

Where credentials come from, first match wins, for the registry host being addressed only:

1. ``MODELGUARD_REGISTRY_USERNAME`` + ``MODELGUARD_REGISTRY_PASSWORD`` (CI: a robot account or a token
   as the password);
2. Docker's ``config.json`` (``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``):
   ``credHelpers[host]`` (runs ``docker-credential-<name> get``), then ``auths[host]`` (``auth`` =
   base64 ``user:password``, or ``username``/``password``, or ``identitytoken``), then ``credsStore``.

A ``WWW-Authenticate`` challenge is parsed per RFC 7235 (``Basic realm=...`` or ``Bearer realm=...,
service=...,scope=...``); :mod:`modelguard.mirror.oci` answers it.

Must not: print, log or put a secret in a message, a repr or an exception (errors name where the
credentials came from, never their value); read any file but the Docker config; run any program but
a credential helper named in that config (name checked against ``[a-z0-9._-]``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from modelguard.errors import UsageError

USERNAME_ENV = "MODELGUARD_REGISTRY_USERNAME"
PASSWORD_ENV = "MODELGUARD_REGISTRY_PASSWORD"  # noqa: S105 - the variable's name, not a password
IDENTITY_TOKEN_USER = "<token>"  # noqa: S105 - a marker username, not a secret
"""the username a credential helper returns when the secret is an OAuth2 refresh token"""

_HELPER = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_HELPER_TIMEOUT = 30.0


@dataclass(frozen=True)
class Credentials:
    """A username and secret for one registry host. The repr never shows the secret."""

    username: str
    secret: str = field(repr=False)
    source: str = ""
    """where they came from, for messages (``$MODELGUARD_REGISTRY_PASSWORD``, ``~/.docker/config.json``)"""

    @property
    def identity_token(self) -> bool:
        """The secret is a refresh token for the token service (``docker login`` with OAuth2)."""
        return self.username == IDENTITY_TOKEN_USER

    def basic(self) -> str:
        raw = f"{self.username}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class Challenge:
    scheme: str
    """``basic`` or ``bearer`` (lowercase); anything else is kept and refused by the caller"""
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a ``WWW-Authenticate`` header, or None when there is none that parses."""
    match = re.match(r"\s*([A-Za-z][A-Za-z0-9._-]*)\s*(.*)", header or "")
    if not match:
        return None
    params: dict[str, str] = {}
    for key, quoted, bare in re.findall(r'([A-Za-z][A-Za-z0-9._-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))',
                                        match.group(2)):
        params.setdefault(key.lower(), re.sub(r"\\(.)", r"\1", quoted) if quoted else bare)
    return Challenge(match.group(1).lower(), params)


def find_credentials(host: str) -> Credentials | None:
    """Credentials for registry ``host`` (``host[:port]``), or None (anonymous); see the module docstring."""
    username, password = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
    if username or password:
        if not (username and password):
            raise UsageError(f"set both {USERNAME_ENV} and {PASSWORD_ENV}, or neither")
        return _checked(Credentials(username, password, f"${PASSWORD_ENV}"))
    path = docker_config_path()
    config = _read_config(path)
    if config is None:
        return None
    where = str(path)
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict) and isinstance(helpers.get(host), str):
        return _from_helper(helpers[host], host, where)
    entry = _auth_entry(config.get("auths"), host)
    if entry is not None:
        found = _from_entry(entry, where)
        if found is not None:
            return found
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        return _from_helper(store, host, where)
    return None


def docker_config_path() -> Path:
    folder = os.environ.get("DOCKER_CONFIG")
    return (Path(folder) if folder else Path.home() / ".docker") / "config.json"


def _read_config(path: Path) -> dict[str, object] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as e:
        raise UsageError(f"cannot read the Docker config {path}: {e.strerror or type(e).__name__}") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise UsageError(f"the Docker config {path} is not JSON; fix it or point $DOCKER_CONFIG elsewhere") \
            from None
    if not isinstance(data, dict):
        raise UsageError(f"the Docker config {path} is not a JSON object")
    return data


def _auth_entry(auths: object, host: str) -> dict[str, object] | None:
    """``auths`` keys are written as ``host``, ``host:port`` or ``https://host/v1/``: compare hosts only."""
    if not isinstance(auths, dict):
        return None
    for key, entry in auths.items():
        if isinstance(key, str) and isinstance(entry, dict) and _key_host(key) == host.lower():
            return entry
    return None


def _key_host(key: str) -> str:
    key = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", key.strip())
    return key.split("/", 1)[0].lower()


def _from_entry(entry: dict[str, object], where: str) -> Credentials | None:
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return _checked(Credentials(IDENTITY_TOKEN_USER, token, where))
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise UsageError(f"an 'auth' value in {where} is not base64 of 'user:password'; run `docker login` "
                             "again") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise UsageError(f"an 'auth' value in {where} holds no ':' between user and password; run "
                             "`docker login` again")
        return _checked(Credentials(username, password, where))
    user, secret = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(secret, str) and user and secret:
        return _checked(Credentials(user, secret, where))
    return None


def _from_helper(name: str, host: str, where: str) -> Credentials | None:
    """``docker-credential-<name> get`` with the server on stdin: ``{"Username", "Secret"}`` on stdout."""
    if not _HELPER.fullmatch(name):
        raise UsageError(f"{where} names a credential helper {name!r} that is not a helper name")
    program = f"docker-credential-{name}"
    try:
        proc = subprocess.run([program, "get"], input=host.encode(), capture_output=True,  # noqa: S603
                              timeout=_HELPER_TIMEOUT, check=False)
    except FileNotFoundError:
        raise UsageError(f"{where} uses the credential helper {program}, which is not on PATH; install it or "
                         "remove it from the config") from None
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UsageError(f"the credential helper {program} did not answer ({type(e).__name__})") from None
    if proc.returncode != 0:
        # Helpers say "credentials not found" for a host they hold nothing for: anonymous, as docker does.
        if b"not found" in proc.stdout.lower() + proc.stderr.lower():
            return None
        raise UsageError(f"the credential helper {program} failed (exit {proc.returncode}); run it by hand "
                         f"to see why: echo {host} | {program} get")
    try:
        data = json.loads(proc.stdout)
        username, secret = data["Username"], data["Secret"]
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"the credential helper {program} answered something that is not its JSON") from None
    if not isinstance(username, str) or not isinstance(secret, str) or not secret:
        return None
    return _checked(Credentials(username, secret, f"{program} (from {where})"))


def _checked(found: Credentials) -> Credentials:
    # Basic credentials are base64-encoded, so spaces and non-ASCII are fine; control characters are
    # a paste gone wrong. A bearer refresh token goes into a form body: the same rule serves.
    for value in (found.username, found.secret):
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            # Said without the value: a pasted secret must not reach the terminal or a CI log.
            raise UsageError(f"the registry credentials from {found.source} hold a control character or line "
                             "break; set them again")
    return found
