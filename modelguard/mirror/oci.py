"""The OCI distribution client: the only module that talks HTTP to a registry.

Owns, per the OCI distribution spec 1.1: the auth challenge dance (``401`` + ``WWW-Authenticate:
Basic`` -> basic credentials; ``Bearer realm,service,scope`` -> a token from the realm, cached per
scope), blob ``HEAD``/``GET`` (with ``Range``, redirects followed by hand)/upload (``POST`` then one
``PUT ?digest=``)/cross-repository mount, manifest ``GET``/``HEAD``/``PUT``, and referrers (the
``/referrers/<digest>`` API when the registry has it, else the tag schema ``sha256-<hex>``).

Why a small client on ``requests`` and not ``oras`` (oras-py 0.2, PyPI), decided for issue 16:

* bytes must be hashed while they are written into quarantine, and resumed with ``Range`` after a
  cut: oras-py's ``download_blob`` writes 8 KiB chunks to a path, never checks the digest, and has
  no ``Range``; its ``pull`` names files after an annotation it does not validate;
* it has no referrers listing (only ``subject`` on push) and no tag-schema fallback;
* credentials: it does read ``credHelpers``/``credsStore``, but it follows redirects with
  requests' session rules, and its errors end in ``sys.exit`` (``logger.exit``) in places, which a
  library called by ``fetch`` must never do;
* what modelguard needs is ~10 HTTP calls whose every answer must be validated anyway, on
  ``requests``, which is already a dependency. One maintainer and an irregular release history
  tipped it further: the supply-chain verifier should not add a dependency it cannot vouch for.

Security rules this module keeps: ``Authorization`` goes to the registry's own origin (and a
bearer realm it names, over HTTPS or loopback), never across a redirect to another origin (blob
stores behind registries redirect downloads); no HTTPS -> HTTP downgrade on a redirect; credentials
never over plain HTTP to a non-loopback host; messages are built from statuses and registry error
codes, never from bodies or URLs with signatures in them. Everything a registry says is validated
before use. Must not write files (callers own quarantine) or trust any byte it returns.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO
from urllib.parse import quote, urljoin, urlsplit

import requests

from modelguard import __version__
from modelguard.errors import AccessDeniedError, IntegrityError, NoVerdictError, UsageError
from modelguard.hub.metadata import same_origin
from modelguard.hub.transport import MAX_SERVER_WAIT, RETRY_STATUSES, pause, server_wait
from modelguard.mirror.auth import PASSWORD_ENV, USERNAME_ENV, Challenge, Credentials, parse_challenge
from modelguard.mirror.reference import MirrorLocation, is_digest, is_loopback_host, referrers_tag

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"
MANIFEST_LIMIT = 4 << 20
"""bytes: distribution's own limit for a manifest; a longer answer is hostile"""
_TOKEN_LIMIT = 64 << 10
_MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)
_UPLOAD_READ = 1 << 20
_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,39}")


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


@dataclass(frozen=True)
class PutManifest:
    digest: str
    subject_accepted: bool
    """the registry answered ``OCI-Subject``: it indexes referrers itself (OCI 1.1)"""


class RegistryClient:
    """A client for one registry; blob downloads may run in several threads (a session per thread)."""

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
        return f"RegistryClient({self.location.url!r}, credentials={'<set>' if self.credentials else None})"

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

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- transport ----------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.location.base + path

    def _request(self, method: str, url: str, *, scope: str, what: str, headers: Mapping[str, str] | None = None,
                 data: bytes | BinaryIO | _HashingReader | None = None, stream: bool = False) -> requests.Response:
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

    # --- blobs --------------------------------------------------------------------------------

    def blob_size(self, repository: str, digest: str, *, push: bool = False) -> int | None:
        """The size of a blob the repository holds (-1: held elsewhere, size unsaid), or None (HEAD, 404)."""
        what = f"{repository}@{digest[:19]}"
        scope = self.push_scope(repository) if push else self.pull_scope(repository)
        with self._request("HEAD", self._url(f"/v2/{repository}/blobs/{digest}"), scope=scope, what=what) as r:
            if r.status_code == 404:
                return None
            if r.status_code in _REDIRECTS:
                return _int_header(r, "Content-Length", what) if "Content-Length" in r.headers else -1
            if r.status_code != 200:
                raise self._status_error(r, what)
            return _int_header(r, "Content-Length", what)

    def open_blob(self, repository: str, digest: str, *, start: int = 0) -> requests.Response:
        """A streaming GET of a blob from byte ``start`` (``Range``), redirects followed by hand.

        The caller checks every byte. ``Authorization`` is sent to the registry's origin only: a
        redirect to an object store gets none. Raises :class:`BlobMissing` on 404.
        """
        what = f"{repository}@{digest[:19]}"
        url = self._url(f"/v2/{repository}/blobs/{digest}")
        headers = {"Range": f"bytes={start}-"} if start else {}
        # Identity only: a blob's digest is of its stored bytes, and a decoded body would be other bytes.
        headers["Accept-Encoding"] = "identity"
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._request("GET", url, scope=self.pull_scope(repository), what=what, headers=headers,
                                     stream=True)
            if response.status_code in _REDIRECTS:
                location = response.headers.get("Location", "")
                response.close()
                url = self._redirect_target(url, location, what)
                continue
            if response.status_code == 404:
                response.close()
                raise BlobMissing(f"{what}: the mirror {self.location.url} does not hold this blob; run "
                                  "`modelguard push` for the model, or set fallback = \"hub\"")
            if response.status_code not in (200, 206):
                error = self._status_error(response, what)
                response.close()
                raise error
            return response
        raise IntegrityError(f"{what}: the registry redirected more than {_MAX_REDIRECTS} times", rule="MG-H163")

    def _redirect_target(self, url: str, location: str, what: str) -> str:
        target = urljoin(url, location)
        scheme = urlsplit(target).scheme.lower()
        if not location or scheme not in ("http", "https"):
            raise IntegrityError(f"{what}: the registry redirected the download to a non-http location",
                                 rule="MG-H163")
        if scheme == "http" and urlsplit(url).scheme == "https":
            raise IntegrityError(f"{what}: the registry redirected the download from HTTPS to plain HTTP",
                                 rule="MG-H163")
        return target

    def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        """Ask the registry to link a blob it holds in ``source`` into ``repository`` (no bytes move)."""
        what = f"{repository}@{digest[:19]}"
        url = self._url(f"/v2/{repository}/blobs/uploads/?mount={quote(digest)}&from={quote(source, safe='/')}")
        scope = f"{self.push_scope(repository)} {self.pull_scope(source)}"
        with self._request("POST", url, scope=scope, what=what, headers={"Content-Length": "0"}) as r:
            if r.status_code == 201:
                return True
            if r.status_code == 202:
                # The registry did not mount and opened an upload instead: abandon it (best effort).
                self._cancel(r, scope, what)
                return False
            if r.status_code in (401, 403, 404):
                return False  # no pull access to the source, or it is gone: upload instead
            raise self._status_error(r, what)

    def _cancel(self, response: requests.Response, scope: str, what: str) -> None:
        location = response.headers.get("Location")
        if location:
            try:
                self._request("DELETE", urljoin(response.url, location), scope=scope, what=what).close()
            except NoVerdictError:
                pass  # the registry expires abandoned uploads itself

    def upload_blob(self, repository: str, digest: str, body: bytes | Path, size: int) -> None:
        """``POST`` an upload, then one ``PUT ?digest=`` with every byte (monolithic upload).

        The registry checks the digest of what it received and refuses a mismatch; a file is also
        hashed here as it is read, and the upload is refused before it completes when it is not
        ``digest`` (the cache may have changed since it was checked).
        """
        what = f"{repository}@{digest[:19]}"
        scope = self.push_scope(repository)
        url = self._url(f"/v2/{repository}/blobs/uploads/")
        with self._request("POST", url, scope=scope, what=what, headers={"Content-Length": "0"}) as r:
            if r.status_code != 202 or not r.headers.get("Location"):
                raise self._status_error(r, what)
            target = urljoin(r.url, r.headers["Location"])
        sep = "&" if urlsplit(target).query else "?"
        put = f"{target}{sep}digest={quote(digest)}"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if isinstance(body, bytes):
            with self._request("PUT", put, scope=scope, what=what, headers=headers, data=body) as r:
                if r.status_code != 201:
                    raise self._status_error(r, what)
            return
        with open(body, "rb") as raw:
            reader = _HashingReader(raw, size)
            with self._request("PUT", put, scope=scope, what=what, headers=headers, data=reader) as r:
                status = r.status_code
                error = self._status_error(r, what) if status != 201 else None
        if reader.size != size or reader.hexdigest() != digest.removeprefix("sha256:"):
            raise IntegrityError(f"{what}: the cached file changed while it was uploaded; run `modelguard verify`",
                                 rule="MG-H001")
        if error is not None:
            raise error

    # --- manifests ----------------------------------------------------------------------------

    def get_manifest(self, repository: str, reference: str, accept: str) -> tuple[bytes, str] | None:
        """The manifest bytes and their digest, checked against the reference or the digest header."""
        what = f"{repository}:{reference[:71]}"
        url = self._url(f"/v2/{repository}/manifests/{reference}")
        with self._request("GET", url, scope=self.pull_scope(repository), what=what, headers={"Accept": accept},
                           stream=True) as r:
            if r.status_code == 404:
                return None
            if r.status_code != 200:
                raise self._status_error(r, what)
            body = _read_capped(r, what, MANIFEST_LIMIT)
            announced = r.headers.get("Docker-Content-Digest")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if (is_digest(reference) and reference != digest) or (announced and announced != digest):
            raise malformed(what, "is a manifest whose bytes do not have the digest asked for or announced")
        return body, digest

    def manifest_digest(self, repository: str, reference: str, accept: str, *, push: bool = False) -> str | None:
        """The digest a tag or digest reference names now (HEAD), or None when there is none."""
        what = f"{repository}:{reference[:71]}"
        scope = self.push_scope(repository) if push else self.pull_scope(repository)
        url = self._url(f"/v2/{repository}/manifests/{reference}")
        with self._request("HEAD", url, scope=scope, what=what, headers={"Accept": accept}) as r:
            if r.status_code == 404:
                return None
            if r.status_code != 200:
                raise self._status_error(r, what)
            announced = r.headers.get("Docker-Content-Digest", "")
        if is_digest(announced):
            return announced
        found = self.get_manifest(repository, reference, accept)  # a registry that does not say: ask for the bytes
        return found[1] if found else None

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> PutManifest:
        what = f"{repository}:{reference[:71]}"
        url = self._url(f"/v2/{repository}/manifests/{reference}")
        with self._request("PUT", url, scope=self.push_scope(repository), what=what,
                           headers={"Content-Type": media_type}, data=body) as r:
            if r.status_code != 201:
                raise self._status_error(r, what)
            subject = "OCI-Subject" in r.headers
        return PutManifest("sha256:" + hashlib.sha256(body).hexdigest(), subject)

    # --- referrers ----------------------------------------------------------------------------

    def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        """Descriptors of the manifests that name ``digest`` as their subject.

        The referrers API when the registry has it; else (404, as registries without it answer) the
        index at the tag ``sha256-<hex>`` that pushers maintain under the OCI 1.1 tag schema.
        """
        what = f"{repository}@{digest[:19]} referrers"
        url = self._url(f"/v2/{repository}/referrers/{digest}")
        with self._request("GET", url, scope=self.pull_scope(repository), what=what,
                           headers={"Accept": OCI_INDEX}, stream=True) as r:
            if r.status_code == 200 and r.headers.get("Content-Type", "").startswith(OCI_INDEX):
                return index_entries(_read_capped(r, what, MANIFEST_LIMIT), what)
            if r.status_code not in (404, 405, 400):
                raise self._status_error(r, what)
        return self.tag_schema_referrers(repository, digest)

    def tag_schema_referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        found = self.get_manifest(repository, referrers_tag(digest), OCI_INDEX)
        return index_entries(found[0], f"{repository}:{referrers_tag(digest)}") if found else []


def index_entries(body: bytes, what: str) -> list[dict[str, Any]]:
    """The validated ``manifests`` of an OCI image index."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise malformed(what, "is not JSON") from None
    entries = doc.get("manifests") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise malformed(what, "is not an OCI image index")
    for entry in entries:
        if not (isinstance(entry, dict) and isinstance(entry.get("mediaType"), str)
                and is_digest(str(entry.get("digest"))) and isinstance(entry.get("size"), int)):
            raise malformed(what, "lists a descriptor without a valid mediaType, digest and size")
    return entries


class _HashingReader:
    """A file object requests streams from: hashes what it hands over, in large reads."""

    def __init__(self, raw: BinaryIO, size: int) -> None:
        self._raw = raw
        self._sha256 = hashlib.sha256()
        self._size = size
        self.size = 0

    def __len__(self) -> int:  # requests sets Content-Length from it
        return self._size

    def read(self, n: int = -1) -> bytes:
        # urllib3 asks for 16 KiB at a time; larger reads cost far fewer Python calls per GiB.
        chunk = self._raw.read(max(n, _UPLOAD_READ) if n >= 0 else -1)
        self._sha256.update(chunk)
        self.size += len(chunk)
        return chunk

    def hexdigest(self) -> str:
        return self._sha256.hexdigest()


def _replayable(data: object) -> bool:
    return data is None or isinstance(data, bytes)


def _read_capped(response: requests.Response, what: str, limit: int) -> bytes:
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
        return json.loads(_read_capped(response, what, limit))
    except (ValueError, RecursionError):
        raise malformed(what, "is not JSON") from None


def _error_code(response: requests.Response) -> str:
    """The first distribution error code of an error body (``DIGEST_INVALID``), when it is one."""
    try:
        doc = json.loads(_read_capped(response, "error", 64 << 10))
        code = doc["errors"][0]["code"]
    except (ValueError, RecursionError, KeyError, IndexError, TypeError, IntegrityError, NoVerdictError):
        return ""
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else ""


def _int_header(response: requests.Response, name: str, what: str) -> int:
    value = response.headers.get(name, "").strip()
    if not value.isdigit() or len(value) > 19:
        raise malformed(what, f"has no valid {name}")
    return int(value)
