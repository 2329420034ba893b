"""The OCI distribution client: with :mod:`modelguard.mirror.transport`, the only code that talks to a registry.

Owns, per the OCI distribution spec 1.1, the registry operations modelguard uses: blob
``HEAD``/``GET`` (with ``Range``, redirects followed by hand)/upload (``POST`` then one
``PUT ?digest=``)/cross-repository mount, manifest ``GET``/``HEAD``/``PUT``, and referrers (the
``/referrers/<digest>`` API when the registry has it, else the tag schema ``sha256-<hex>``). The
auth challenge dance (basic, bearer tokens), retries and redirect checks are the transport's.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urljoin, urlsplit

import requests

from modelguard.errors import IntegrityError, NoVerdictError
from modelguard.mirror.reference import is_digest, referrers_tag
from modelguard.mirror.transport import (
    BlobMissing,
    RegistryAccessDenied,
    RegistryTransport,
    RegistryUnreachable,
    int_header,
    malformed,
    read_capped,
)
from modelguard.spec.bounded import load_json
from modelguard.spec.limits import OverBudget

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"
MANIFEST_LIMIT = 4 << 20
"""bytes: distribution's own limit for a manifest; a longer answer is hostile"""
_MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)
_UPLOAD_READ = 1 << 20

__all__ = ["OCI_EMPTY", "OCI_INDEX", "OCI_MANIFEST", "BlobMissing", "PutManifest", "RegistryAccessDenied",
           "RegistryClient", "RegistryUnreachable", "index_entries"]


@dataclass(frozen=True)
class PutManifest:
    digest: str
    subject_accepted: bool
    """the registry answered ``OCI-Subject``: it indexes referrers itself (OCI 1.1)"""


class RegistryClient(RegistryTransport):
    """The registry operations modelguard uses, for one registry (see the module docstring)."""

    # --- blobs --------------------------------------------------------------------------------

    def blob_size(self, repository: str, digest: str, *, push: bool = False) -> int | None:
        """The size of a blob the repository holds (-1: held elsewhere, size unsaid), or None (HEAD, 404)."""
        what = f"{repository}@{digest[:19]}"
        scope = self.push_scope(repository) if push else self.pull_scope(repository)
        with self._request("HEAD", self._url(f"/v2/{repository}/blobs/{digest}"), scope=scope, what=what) as r:
            if r.status_code == 404:
                return None
            if r.status_code in _REDIRECTS:
                return int_header(r, "Content-Length", what) if "Content-Length" in r.headers else -1
            if r.status_code != 200:
                raise self._status_error(r, what)
            return int_header(r, "Content-Length", what)

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
                url = self.redirect_target(url, location, what)
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
            body = read_capped(r, what, MANIFEST_LIMIT)
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
                return index_entries(read_capped(r, what, MANIFEST_LIMIT), what)
            if r.status_code not in (404, 405, 400):
                raise self._status_error(r, what)
        return self.tag_schema_referrers(repository, digest)

    def tag_schema_referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        found = self.get_manifest(repository, referrers_tag(digest), OCI_INDEX)
        return index_entries(found[0], f"{repository}:{referrers_tag(digest)}") if found else []


def index_entries(body: bytes, what: str) -> list[dict[str, Any]]:
    """The validated ``manifests`` of an OCI image index."""
    try:
        doc = load_json(body, what=what)  # depth checked before parsing
    except (ValueError, OverBudget):
        raise malformed(what, "is not JSON within the nesting budget") from None
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


