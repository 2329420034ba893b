"""How modelguard talks HTTP to one registry: auth, retries, redirects, and what each failure becomes.

:class:`RegistryTransport` owns the requests sessions (one per thread), the answer to a ``401``
(``Basic`` -> the credentials; ``Bearer realm,service,scope`` -> a token from the realm, cached per
scope; per the distribution token spec), retries of 429/5xx and network errors with the Hub's
backoff policy (:mod:`modelguard.hub.transport`), and the checks on a redirect target.
:mod:`modelguard.mirror.oci` builds the registry operations on it.

Must not: send ``Authorization`` anywhere but the registry's own origin (and the token realm it
names, over HTTPS or loopback); follow a redirect itself; build a message from a response body or a
URL (signed object-store URLs hold credentials of their own); put a secret in a repr.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import BinaryIO, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

import requests

from modelguard import __version__
from modelguard.errors import AccessDeniedError, IntegrityError, NoVerdictError, UsageError
from modelguard.hub.metadata import same_origin
from modelguard.hub.transport import MAX_SERVER_WAIT, RETRY_STATUSES, pause, server_wait
from modelguard.mirror.auth import PASSWORD_ENV, USERNAME_ENV, Challenge, Credentials, parse_challenge
from modelguard.mirror.reference import MirrorLocation, is_loopback_host
from modelguard.spec import limits
from modelguard.spec.bounded import load_json
from modelguard.spec.limits import OverBudget

_TOKEN_LIMIT = 64 << 10
_T = TypeVar("_T", bound="RegistryTransport")
_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,39}")


class Body(Protocol):
    """A streamed request body (a file, or one that hashes what it hands over)."""

    def read(self, n: int = -1) -> bytes: ...


class BlobMissing(NoVerdictError):
    """The registry has no blob with this digest in this repository (HTTP 404)."""

    rule = "MG-H160"


class RegistryUnreachable(NoVerdictError):
    """The registry did not answer, or answered 5xx/429 after retries, or an unexpected status."""

    rule = "MG-H161"


class RegistryAccessDenied(AccessDeniedError):
    rule = "MG-H161"


def malformed(what: str, why: str) -> IntegrityError:
    return IntegrityError(f"{what}: the registry's answer {why}", rule="MG-H162")


class RegistryTransport:
    """HTTP to one registry; requests may run in several threads (a session per thread)."""

    def __init__(self, location: MirrorLocation, credentials: Credentials | None = None, *, timeout: float = 30.0,
                 retries: int = 4, retry_wait: float = 0.5) -> None:
        if credentials is not None and location.plain_http and not location.loopback:
            raise UsageError(f"refusing to send the registry credentials from {credentials.source} over plain HTTP "
                             f"to {location.host}; serve the registry over HTTPS (plain-http is for loopback)")
        self.location = location
        self.credentials = credentials
        self.timeout = timeout
        self.retries = retries
        self.retry_wait = retry_wait
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._authorization: dict[str, str] = {}
        """scope (or ``*`` for basic) -> Authorization value; never logged"""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location.url!r}, credentials={'<set>' if self.credentials else None})"

    @property
    def _session(self) -> requests.Session:
        """One connection pool per thread: files can be downloaded side by side (requests' Session is
        not documented thread-safe); tokens are shared, so a worker does not log in again."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = f"modelguard/{__version__}"
            self._local.session = session
            self._sessions.append(session)
        return session

    def close(self) -> None:
        for session in self._sessions:
            session.close()

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- transport ----------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.location.base + path

    def _request(self, method: str, url: str, *, scope: str, what: str, headers: Mapping[str, str] | None = None,
                 data: bytes | BinaryIO | Body | None = None, stream: bool = False) -> requests.Response:
        """One request with the registry's auth and retries; redirects are returned, never followed here.

        A 401 from the registry is answered once (basic or bearer per its challenge); a second 401 is
        access denied. 429/5xx and network errors are retried with backoff when the body can be sent
        again (none, or bytes).
        """
        own = same_origin(url, self.location.base)
        answered = False
        wait = self.retry_wait
        attempt = 0
        while True:
            sent = dict(headers or {})
            authorization = self._authorization.get(scope) or self._authorization.get("*")
            if own and authorization:
                sent["Authorization"] = authorization
            try:
                response = self._session.request(method, url, headers=sent, data=data, stream=stream,
                                                 timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as e:
                if attempt >= self.retries or not _replayable(data):
                    raise RegistryUnreachable(f"{what}: cannot reach {self.location.host} ({type(e).__name__}); "
                                              "check the network and the mirror URL") from None
                attempt += 1
                pause(wait, f"{what}: {type(e).__name__}")
                wait = min(8.0, wait * 2)
                continue
            if response.status_code == 401 and own and not answered:
                response.close()
                self._answer(response, scope, what)
                answered = True
                if not _replayable(data):
                    raise RegistryAccessDenied(f"{what}: {self.location.host} asked for credentials mid-upload; "
                                               "push again")
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries and _replayable(data):
                asked = server_wait(response.headers)
                response.close()
                if asked is not None and asked > MAX_SERVER_WAIT:
                    raise RegistryUnreachable(f"{what}: {self.location.host} answered HTTP {response.status_code} "
                                              f"and asks to wait {asked:.0f} s; try again later")
                attempt += 1
                pause(max(wait, asked or 0.0), f"{what}: HTTP {response.status_code}")
                wait = min(8.0, wait * 2)
                continue
            return response

    def _answer(self, response: requests.Response, scope: str, what: str) -> None:
        """Meet a 401's challenge: basic credentials, or a bearer token for ``scope`` from the realm."""
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            raise RegistryAccessDenied(f"{what}: {self.location.host} asks for an authentication scheme modelguard "
                                       "does not speak (neither Basic nor Bearer)")
        creds = self.credentials
        if challenge.scheme == "basic":
            if creds is None:
                raise self._login_needed(what)
            self._authorization["*"] = creds.basic()
            return
        self._authorization[scope] = "Bearer " + self._token(challenge, scope, what)

    def _login_needed(self, what: str) -> RegistryAccessDenied:
        host = self.location.host
        return RegistryAccessDenied(f"{what}: {host} requires a login; run `docker login {host}` (or set "
                                    f"{USERNAME_ENV} and {PASSWORD_ENV})")

    def _denied(self, what: str, status: int) -> RegistryAccessDenied:
        if self.credentials is None:
            return self._login_needed(what)
        return RegistryAccessDenied(f"{what}: {self.location.host} refused the credentials from "
                                    f"{self.credentials.source} (HTTP {status}); log in again or check their access")

    def _token(self, challenge: Challenge, scope: str, what: str) -> str:
        """A bearer token from the realm the registry named (distribution token spec)."""
        realm = challenge.params.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise malformed(what, "names a token realm that is not an http(s) URL")
        if parts.scheme == "http" and not is_loopback_host(parts.netloc):
            # The realm receives the credentials: never in clear text off this machine.
            raise IntegrityError(f"{what}: the registry names a token service over plain HTTP "
                                 f"({parts.hostname}); refusing to send credentials there", rule="MG-H163")
        params: list[tuple[str, str]] = [("scope", s) for s in scope.split()]
        if "service" in challenge.params:
            params.insert(0, ("service", challenge.params["service"]))
        creds = self.credentials
        try:
            if creds is not None and creds.identity_token:
                form = [*params, ("grant_type", "refresh_token"), ("refresh_token", creds.secret),
                        ("client_id", "modelguard")]
                answer = self._session.post(realm, data=form, timeout=self.timeout, allow_redirects=False)
            else:
                headers = {"Authorization": creds.basic()} if creds is not None else {}
                answer = self._session.get(realm, params=params, headers=headers, timeout=self.timeout,
                                           allow_redirects=False)
        except requests.RequestException as e:
            raise RegistryUnreachable(f"{what}: cannot reach the registry's token service {parts.hostname} "
                                      f"({type(e).__name__})") from None
        with answer:
            if answer.status_code in (401, 403):
                raise self._denied(what, answer.status_code)
            if answer.status_code != 200:
                raise RegistryUnreachable(f"{what}: the token service {parts.hostname} answered HTTP "
                                          f"{answer.status_code}")
            doc = _read_json(answer, what, _TOKEN_LIMIT)
        token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token or any(not (0x21 <= ord(c) <= 0x7E) for c in token):
            raise malformed(what, "from the token service holds no usable token")
        return token

    def _status_error(self, response: requests.Response, what: str) -> NoVerdictError:
        status = response.status_code
        if status in (401, 403):
            return self._denied(what, status)
        code = _error_code(response)
        return RegistryUnreachable(f"{what}: {self.location.host} answered HTTP {status}"
                                   f"{f' ({code})' if code else ''}")

    # --- scopes -------------------------------------------------------------------------------

    @staticmethod
    def pull_scope(repository: str) -> str:
        return f"repository:{repository}:pull"

    @staticmethod
    def push_scope(repository: str) -> str:
        return f"repository:{repository}:pull,push"

    def redirect_target(self, url: str, location: str, what: str) -> str:
        target = urljoin(url, location)
        scheme = urlsplit(target).scheme.lower()
        if not location or scheme not in ("http", "https"):
            raise IntegrityError(f"{what}: the registry redirected the download to a non-http location",
                                 rule="MG-H163")
        if scheme == "http" and urlsplit(url).scheme == "https":
            raise IntegrityError(f"{what}: the registry redirected the download from HTTPS to plain HTTP",
                                 rule="MG-H163")
        return target

def _replayable(data: object) -> bool:
    return data is None or isinstance(data, bytes)


def read_capped(response: requests.Response, what: str, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    for chunk in _iter(response):
        total += len(chunk)
        if total > limit:
            raise malformed(what, f"is longer than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _iter(response: requests.Response) -> Iterator[bytes]:
    try:
        yield from response.iter_content(chunk_size=64 << 10)
    except requests.RequestException as e:
        raise RegistryUnreachable(f"the registry's answer broke off ({type(e).__name__})") from None


def _read_json(response: requests.Response, what: str, limit: int) -> object:
    try:
        return load_json(read_capped(response, what, limit), what=what)  # depth checked before parsing
    except OverBudget as e:
        raise malformed(what, f"nests deeper than {limits.active().json_depth} levels ({e.rule})") from None
    except ValueError:
        raise malformed(what, "is not JSON") from None


def _error_code(response: requests.Response) -> str:
    """The first distribution error code of an error body (``DIGEST_INVALID``), when it is one."""
    try:
        doc = load_json(read_capped(response, "error", 64 << 10), what="an error answer")
        code = doc["errors"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError, IntegrityError, NoVerdictError, OverBudget):
        return ""
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else ""


def int_header(response: requests.Response, name: str, what: str) -> int:
    value = response.headers.get(name, "").strip()
    if not value.isdigit() or len(value) > 19:
        raise malformed(what, f"has no valid {name}")
    return int(value)

