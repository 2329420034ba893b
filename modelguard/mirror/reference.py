"""Where a mirror is: ``oci://HOST[:PORT]/NAMESPACE`` and the registry names modelguard derives from it.

Pure: parses and validates strings, no I/O (the manifest reader uses it too). Owns the mapping of
a Hub repo onto an OCI repository (``NAMESPACE/org--name``, lowercase, as the distribution spec
requires), the tag grammar, digest syntax and the loopback test that gates plain HTTP.

Must not: accept a name that is not valid in the distribution spec (a registry would answer
NAME_INVALID later, or worse, route it somewhere else), or a URL carrying credentials or a query.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from modelguard.errors import UsageError

SCHEME = "oci://"

# distribution spec: path components of a repository name, and tags
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?")
_MAX_REPOSITORY = 255
_SEPARATORS = re.compile(r"[._-]+")


def _separator(run: re.Match[str]) -> str:
    text = run.group(0)
    return text if text in (".", "_", "__") or set(text) == {"-"} else "-"


@dataclass(frozen=True)
class MirrorLocation:
    """A registry and the namespace inside it that holds modelguard's artifacts."""

    host: str
    """``host`` or ``host:port`` as written (lowercased)"""
    namespace: str = ""
    """path under the registry, ``""`` for the root"""
    plain_http: bool = False
    """HTTP instead of HTTPS: loopback and dev registries only"""

    @property
    def base(self) -> str:
        return f"{'http' if self.plain_http else 'https'}://{self.host}"

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.host}/{self.namespace}".rstrip("/")

    @property
    def loopback(self) -> bool:
        return is_loopback_host(self.host)

    def repository(self, hub_repo: str) -> str:
        """The OCI repository of a Hub repo: ``NAMESPACE/org--name``, lowercase.

        Lowercase because the distribution spec allows nothing else; two Hub repos differing only in
        case share a repository, which is harmless: artifacts are addressed by commit tag and digest,
        and every byte is checked against the lock, never against the name.
        """
        org, _, name = hub_repo.partition("/")
        # Hub names allow separator runs OCI does not ("a_-b", "a._b", "a___b"): each becomes "-". Two Hub
        # repos may then share a repository; harmless, as above.
        component = _SEPARATORS.sub(_separator, f"{org}--{name}".lower())
        if not _COMPONENT.fullmatch(component):
            raise UsageError(f"{hub_repo} has no valid OCI repository name ({component!r}: lowercase letters, "
                             "digits and single '.', '_' or '-' runs between them); it cannot be mirrored")
        full = f"{self.namespace}/{component}" if self.namespace else component
        if len(full) > _MAX_REPOSITORY:
            raise UsageError(f"the OCI repository name for {hub_repo} is longer than {_MAX_REPOSITORY} characters; "
                             "use a shorter namespace")
        return full

    def reference(self, hub_repo: str, tag: str) -> str:
        return f"{SCHEME}{self.host}/{self.repository(hub_repo)}:{tag}"


def parse_location(url: str, *, plain_http: bool = False) -> MirrorLocation:
    """``oci://HOST[:PORT][/NAMESPACE]`` -> :class:`MirrorLocation`, or a :class:`UsageError` saying why not."""
    problem = location_problem(url)
    if problem:
        raise UsageError(f"mirror {url!r} {problem}; write oci://HOST[:PORT]/NAMESPACE, e.g. "
                         "oci://registry.example.com/models")
    host, _, namespace = url[len(SCHEME):].partition("/")
    return MirrorLocation(host=host.lower(), namespace=namespace.rstrip("/"), plain_http=plain_http)


def location_problem(url: str) -> str | None:
    """Why ``url`` is not a mirror location, or ``None``."""
    if not url.startswith(SCHEME):
        return "does not start with oci://"
    rest = url[len(SCHEME):]
    if any(c in rest for c in "?#@\\ ") or any(ord(c) < 0x21 or ord(c) > 0x7E for c in rest):
        return "contains a character a registry reference cannot hold (credentials, a query, spaces)"
    host, _, namespace = rest.partition("/")
    if not _HOST.fullmatch(host):
        return "has no valid registry host"
    port = host.rpartition(":")[2] if not host.endswith("]") else ""
    if port.isdigit() and not 0 < int(port) < 65536:
        return "has an invalid port"
    namespace = namespace.rstrip("/")
    if namespace and not all(_COMPONENT.fullmatch(part) for part in namespace.split("/")):
        return "has a namespace that is not a valid OCI repository path (lowercase letters, digits, '.', '_', '-')"
    return None


def is_tag(value: str) -> bool:
    return bool(_TAG.fullmatch(value))


def is_digest(value: str) -> bool:
    return bool(_DIGEST.fullmatch(value))


def digest_of(sha256_hex: str) -> str:
    return f"sha256:{sha256_hex}"


def referrers_tag(digest: str) -> str:
    """The OCI 1.1 referrers tag schema: ``sha256-<hex>`` names the index listing a digest's referrers."""
    return digest.replace(":", "-", 1)


def is_loopback_host(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (with or without a port)."""
    # Unbracketed hosts hold no ':' but the port's; IPv6 literals are bracketed.
    name = host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
