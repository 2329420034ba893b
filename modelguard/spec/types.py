"""Frozen data of what the user asked for and what was resolved: manifest entries, the trust
policy, and lockfile pins.

Pure: no I/O. Parsing lives in :mod:`modelguard.spec.manifest`, :mod:`modelguard.spec.policy` and
:mod:`modelguard.spec.lockfile`; findings and reports in :mod:`modelguard.models`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelguard.models import Severity

# --- the manifest (what the user wants) -----------------------------------------------------


@dataclass(frozen=True)
class HFModelSpec:
    """One ``[[hf-model]]`` entry of ``modelguard.toml``."""

    name: str
    repo: str
    revision: str = "main"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    line: int = 0
    """1-based line of the entry in the manifest (for findings and SARIF anchors)"""

    @property
    def org(self) -> str:
        return self.repo.split("/", 1)[0] if "/" in self.repo else ""


@dataclass(frozen=True)
class ProviderModelSpec:
    """One ``[[provider-model]]`` entry of ``modelguard.toml``."""

    name: str
    provider: str
    model: str
    platform: str = "api"
    deployment: str = ""
    region: str = ""
    line: int = 0


@dataclass(frozen=True)
class RemoteCodePin:
    """A reviewed custom-code file allowed by ``[[policy.remote-code]]``."""

    repo: str
    files: tuple[tuple[str, str], ...]
    """(path, sha256) pairs"""
    line: int = 0


@dataclass(frozen=True)
class SafeGlobal:
    """A pickle global the policy adds to the allowlist, scoped to an org or a repo."""

    module: str
    name: str
    scope: str
    """``"*"``, an org (``"google"``) or a repo (``"google/gemma-2b"``)"""
    reason: str
    line: int = 0


@dataclass(frozen=True)
class Suppression:
    """``[[policy.suppress]]``: a finding the team accepted, with a reason and an expiry."""

    rule: str
    scope: str
    """``"*"``, an org, a repo, a model name, or a path glob"""
    reason: str
    expires: str
    """ISO date; an expired suppression is itself a finding"""
    line: int = 0


@dataclass(frozen=True)
class Signer:
    """``[[policy.signers]]``: a key trusted to sign lockfiles or models."""

    keyid: str
    algorithm: str
    """``ed25519`` or ``ecdsa-p256``"""
    public_key_pem: str
    scope: str = "lockfile"
    """``lockfile``, ``*``, an org or a repo"""
    line: int = 0


@dataclass(frozen=True)
class Revocation:
    """``[[policy.revoked]]``: ``org/repo@commit`` or ``sha256:<hex>``, refused everywhere."""

    target: str
    reason: str
    date: str
    line: int = 0

    @property
    def sha256(self) -> str:
        """The file digest a ``sha256:`` target revokes; "" for an ``org/repo@commit`` target."""
        return self.target.removeprefix("sha256:").lower() if self.target.startswith("sha256:") else ""


@dataclass(frozen=True)
class Policy:
    """The trust policy (``[policy]`` or ``policy-file``). Defaults are the secure ones."""

    allowed_orgs: tuple[str, ...] = ()
    """exact, case-sensitive; ``("*",)`` allows every org; empty allows none"""
    denied_orgs: tuple[str, ...] = ()
    require_safetensors: bool = False
    trust_remote_code: str = "deny"
    """``deny`` or ``allow-pinned``"""
    remote_code: tuple[RemoteCodePin, ...] = ()
    allowed_file_types: tuple[str, ...] = ()
    """format names (see scan.detect.Format) allowed in a model; empty: no restriction"""
    max_file_size: int | None = None
    fail_on: Severity = Severity.MEDIUM
    safe_globals: tuple[SafeGlobal, ...] = ()
    allow_floating_aliases: bool = False
    deprecation_window_days: int = 90
    suppressions: tuple[Suppression, ...] = ()
    signers: tuple[Signer, ...] = ()
    require_signature: bool = False
    revoked: tuple[Revocation, ...] = ()
    unknown_formats: str = "inform"
    """``inform``: an unknown binary that hides nothing loadable is an info finding; ``fail``: it fails"""
    source: str = ""
    """the file the policy came from"""
    lines: tuple[tuple[str, int], ...] = ()
    """(key, 1-based line) for findings that name the policy line"""
    sha256: str = ""
    """hash of the policy's canonical content, recorded at lock and admission"""

    def line_of(self, key: str) -> int:
        return dict(self.lines).get(key, 0)


@dataclass(frozen=True)
class MirrorSpec:
    """``[mirror]``: an OCI registry that holds admitted snapshots (where bytes come from, not what they are)."""

    url: str
    """``oci://HOST[:PORT]/NAMESPACE``"""
    plain_http: bool = False
    """HTTP instead of HTTPS (loopback and dev registries)"""
    fallback: str = "hub"
    """``hub``: a blob the mirror lacks comes from the Hub; ``none``: the Hub is never contacted"""
    line: int = 0


@dataclass(frozen=True)
class Manifest:
    """``modelguard.toml``: the models the user wants and the policy they are held to."""

    path: str
    hf_models: tuple[HFModelSpec, ...] = ()
    provider_models: tuple[ProviderModelSpec, ...] = ()
    policy: Policy = field(default_factory=Policy)
    sha256: str = ""
    """hash of the manifest's canonical content (the lock's staleness check)"""
    mirror: MirrorSpec | None = None
    """not part of ``sha256``: a mirror changes where bytes come from, never which bytes are pinned"""
    max_workers: int | None = None
    """``[fetch] max-workers``: connections a fetch opens at once (not part of ``sha256`` either)"""


# --- the lockfile (what was resolved) -------------------------------------------------------


@dataclass(frozen=True)
class LockedFile:
    path: str
    size: int
    sha256: str
    published: str
    """``lfs-sha256`` (the Hub publishes the content SHA-256) or ``git-blob-sha1``"""
    git_blob_sha1: str | None = None


@dataclass(frozen=True)
class LockedHFModel:
    name: str
    repo: str
    requested_revision: str
    commit: str
    files: tuple[LockedFile, ...]
    spec_sha256: str = ""
    """hash of the manifest entry this was resolved from: unchanged entries keep their pin"""

    @property
    def org(self) -> str:
        return self.repo.split("/", 1)[0] if "/" in self.repo else ""


@dataclass(frozen=True)
class LockedProviderModel:
    name: str
    provider: str
    requested: str
    resolved: str
    pin_kind: str
    """``dated`` | ``versioned`` | ``alias``"""
    resolved_via: str
    """``catalog`` | ``models-api`` | ``manual``"""
    resolved_at: str = ""
    platform: str = "api"
    deployment: str = ""
    region: str = ""
    status: str = ""
    deprecated_on: str = ""
    retires_on: str = ""
    replacement: str = ""
    source: str = ""
    spec_sha256: str = ""


@dataclass(frozen=True)
class Lockfile:
    lock_version: int
    created_by: str
    manifest_sha256: str
    policy_sha256: str = ""
    hf_models: tuple[LockedHFModel, ...] = ()
    provider_models: tuple[LockedProviderModel, ...] = ()
    lines: tuple[tuple[str, int], ...] = ()
    """(entry name, 1-based line) when read from a file, for findings and SARIF anchors"""

    def line_of(self, name: str) -> int:
        return dict(self.lines).get(name, 0)
