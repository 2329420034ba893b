"""Offline verification of OpenSSF Model Signing (sigstore ``model_signing``) bundles, ``model.sig``.

Owns reading a Sigstore bundle (v0.3 JSON), checking its DSSE signature with a key or an x509
leaf certificate whose key the policy lists for the model's org or repo, the in-toto statement
(``_type``, ``predicateType``), the subject's root digest over the signed resources, and each
signed file digest against the lockfile's SHA-256.

Must not: use the network; call a keyless (Fulcio + Rekor) bundle verified — without the
transparency log and Sigstore's trust root it proves nothing about who signed, so it is reported
as present and not verified offline; trust anything in the bundle (hints, keyids, certificates)
before the signature verifies under a key taken from the policy.

The format, as model_signing v1.0 writes it (``src/model_signing/_signing/signing.py``):

* bundle: ``{"mediaType", "verificationMaterial": {"publicKey": {"hint"}} | {"x509CertificateChain":
  {"certificates": [{"rawBytes"}]}} | {"certificate": {"rawBytes"}}, "dsseEnvelope": {...}}``;
* envelope payload type ``application/vnd.in-toto+json``, signed over DSSE PAE;
* statement ``_type`` ``https://in-toto.io/Statement/v1``, one subject whose ``digest.sha256`` is
  SHA-256 over the concatenated raw digests of ``predicate.resources`` in their listed order;
* resources ``{"name": path, "algorithm": "sha256", "digest": hex}`` for the ``files`` method
  (``path:start:end`` shards for the ``shards`` method, which cannot be matched to whole files);
* the v0.2 predicate ``https://model_signing/Digests/v0.1`` lists files as subjects instead.

The key hint model_signing writes is the SHA-256 of the public key's PEM; modelguard's keyid is
the SHA-256 of its DER. Both are accepted when choosing which listed signer to try.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from modelguard.errors import UnreadableError, UsageError
from modelguard.models import Finding, Severity
from modelguard.report.rules import finding
from modelguard.spec import filenames, limits
from modelguard.spec.bounded import load_json, read_capped
from modelguard.spec.limits import OverBudget
from modelguard.spec.types import Policy, Signer
from modelguard.trust.lock_signature import (
    PublicKey,
    TrustedKey,
    algorithm_of,
    b64decode,
    keyid,
    pae,
    signature_shape_problem,
    trusted_key,
    verify_pae,
)

BUNDLE_FILE = filenames.MODEL_SIGNATURE
BUNDLE_MEDIA_TYPES = (
    "application/vnd.dev.sigstore.bundle.v0.3+json",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
)
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_V1 = "https://model_signing/signature/v1.0"
PREDICATE_V01 = "https://model_signing/Digests/v0.1"

# Findings that can only arise after a trusted signature verified (the files disagree with it).
_SIGNATURE_VERIFIED_RULES = frozenset({"MG-P515", "MG-P516"})
_UNSIGNED_BY_DESIGN = frozenset({BUNDLE_FILE, ".gitattributes", ".gitignore"})

# Fulcio puts the OIDC issuer in these extensions; a leaf carrying one is a keyless signature.
_FULCIO_ISSUER_OIDS = ("1.3.6.1.4.1.57264.1.1", "1.3.6.1.4.1.57264.1.8")


def signers_for(policy: Policy, repo: str) -> list[Signer]:
    """Signers the policy trusts for ``repo``: scope ``*``, its org, or the repo itself."""
    org = repo.split("/", 1)[0]
    return [s for s in policy.signers if s.scope in ("*", org, repo)]


def signature_required(policy: Policy, repo: str) -> bool:
    """A model needs a valid signature when a signer is listed for its org or repo specifically.

    ``*`` signers are accepted for any model but do not by themselves demand a signature of
    every model (most public models are unsigned); ``require-signature`` with any signer does.
    """
    org = repo.split("/", 1)[0]
    scoped = [s for s in policy.signers if s.scope in (org, repo)]
    return bool(scoped) or (policy.require_signature and bool(signers_for(policy, repo)))


def verify_model_signature(
    bundle: str | os.PathLike[str] | bytes | None,
    files: Mapping[str, str],
    policy: Policy,
    *,
    repo: str,
    model_name: str = "",
) -> list[Finding]:
    """Findings for one model's ``model.sig`` (``None``: the repo ships none).

    ``files`` maps each locked path to its locked SHA-256. An empty list means: either a trusted
    signature verified and vouches for every locked file, or no signature exists and the policy
    does not ask for one.
    """
    where = BUNDLE_FILE
    required = signature_required(policy, repo)
    if bundle is None:
        if required:
            return [finding("MG-P510", f"{repo} ships no {BUNDLE_FILE}, but the policy lists signers for it",
                            model=model_name)]
        return []
    signers = signers_for(policy, repo)
    try:
        findings = _verify(_read(bundle), files, signers, repo=repo)
    except OverBudget as e:
        # Never parsed: a signature larger or deeper than any real one is as good as none.
        findings = [finding("MG-L025", f"{BUNDLE_FILE}: {e.message}")]
    if not signers:
        # Nobody is trusted for this repo: a signature can be neither accepted nor held against
        # the model. Said once, as info, so it shows in the report without failing it.
        keyless = [f for f in findings if f.rule == "MG-P518"]
        findings = keyless or [finding("MG-P512", f"{BUNDLE_FILE} is present but the policy lists no signer "
                                       f"for {repo}; not verified", severity=Severity.INFO)]
    findings = [f.at(path=f.path or where, model=model_name) for f in findings]
    if required and any(f.rule not in _SIGNATURE_VERIFIED_RULES for f in findings):
        findings.append(finding("MG-P510", f"the policy requires a valid signature for {repo} and {BUNDLE_FILE} "
                                "does not provide one", path=where, model=model_name))
    return findings


# --- the checks, in the order a reviewer can follow -----------------------------------------


@dataclass(frozen=True)
class _Bundle:
    payload_type: str
    payload: bytes
    sigs: tuple[bytes, ...]
    hint: str
    """``publicKey.hint`` (SHA-256 of the key's PEM), or ""."""
    leaf: x509.Certificate | None
    keyless: bool


def _verify(raw: bytes, files: Mapping[str, str], signers: list[Signer], *, repo: str) -> list[Finding]:
    parsed = _parse_bundle(raw)
    if isinstance(parsed, str):
        return [finding("MG-P514", f"{BUNDLE_FILE}: {parsed}")]
    # 1. Keyless bundles need Rekor and Fulcio's root: not verifiable here, never "verified".
    if parsed.keyless:
        return [finding("MG-P518", f"{BUNDLE_FILE} is a keyless Sigstore signature; present, not verified offline")]
    # 2. The DSSE signature must verify under a key the policy lists for this model.
    problems = _check_signature(parsed, signers, repo=repo)
    if problems:
        return problems
    # 3. Only now is the signed statement believed: types, root digest, then each file.
    if parsed.payload_type != IN_TOTO_PAYLOAD_TYPE:
        return [finding("MG-P514", f"{BUNDLE_FILE} signs {parsed.payload_type!r}, not an in-toto statement")]
    digests = _signed_digests(parsed.payload)
    if isinstance(digests, Finding):
        return [digests]
    return _compare_files(digests, files)


def _check_signature(bundle: _Bundle, signers: list[Signer], *, repo: str) -> list[Finding]:
    message = pae(bundle.payload_type, bundle.payload)
    if bundle.leaf is not None:
        return _check_certificate(bundle, bundle.leaf, signers, message, repo=repo)
    candidates = [trusted_key(s) for s in signers]
    if bundle.hint:
        candidates = [t for t in candidates if t.key is not None and bundle.hint in _key_hints(t.key)]
        if not candidates:
            return [finding("MG-P512", f"{BUNDLE_FILE} was signed by key {bundle.hint[:16]}…, which the policy does "
                            f"not list for {repo}")]
    if not candidates:
        return [finding("MG-P512", f"{BUNDLE_FILE} names no key, and the policy lists no signer for {repo}")]
    problems: list[Finding] = []
    for trusted in candidates:
        problem = _try_key(trusted, bundle.sigs, message)
        if problem is None:
            return []
        problems.append(problem)
    if not bundle.hint and all(p.rule == "MG-P511" for p in problems):
        # Without a hint, a signature no listed key verifies is most likely from an unlisted key.
        return [finding("MG-P512", f"{BUNDLE_FILE} does not verify under any key the policy lists for {repo}")]
    return problems


def _try_key(trusted: TrustedKey, sigs: tuple[bytes, ...], message: bytes) -> Finding | None:
    """None when one of ``sigs`` verifies under ``trusted``; else the finding that says why not."""
    line = f" (policy line {trusted.signer.line})" if trusted.signer.line else ""
    if trusted.problem or trusted.key is None:
        return finding("MG-P513", f"signer {trusted.signer.keyid[:16]}…{line} cannot be used: {trusted.problem}")
    shapes = [signature_shape_problem(trusted.signer.algorithm, s) for s in sigs]
    if all(shapes):
        return finding("MG-P513", f"signer {trusted.signer.keyid[:16]}…{line} uses {trusted.signer.algorithm}, but "
                       f"the signature is {shapes[0]}")
    if any(verify_pae(trusted.key, message, s) for s in sigs):
        return None
    return finding("MG-P511", f"{BUNDLE_FILE} does not verify under signer {trusted.signer.keyid[:16]}…; the "
                   "signature or the signed statement was altered")


def _check_certificate(
    bundle: _Bundle, leaf: x509.Certificate, signers: list[Signer], message: bytes, *, repo: str
) -> list[Finding]:
    """A certificate-signed bundle is trusted when its leaf's key is a listed signer (key pinning).

    No CA chain is walked: offline, pinning the leaf key is the only trust decision that does not
    depend on a root store, and it is the stricter one.
    """
    try:
        key = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return [finding("MG-P514", f"{BUNDLE_FILE}: the signing certificate's key cannot be read")]
    if not isinstance(key, (ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey)) or algorithm_of(key) is None:
        return [finding("MG-P514", f"{BUNDLE_FILE}: the signing certificate's key is neither Ed25519 nor P-256")]
    cert_keyid = keyid(key)
    if not _usable_for_signing(leaf):
        return [finding("MG-P512", f"{BUNDLE_FILE}: the signing certificate is not valid for digital signatures")]
    listed = [trusted_key(s) for s in signers if s.keyid == cert_keyid]
    if not listed:
        return [finding("MG-P512", f"{BUNDLE_FILE} is signed by a certificate whose key {cert_keyid[:16]}… the "
                        f"policy does not list for {repo}")]
    problems = [p for p in (_try_key(t, bundle.sigs, message) for t in listed) if p is not None]
    return [] if len(problems) < len(listed) else problems


def _usable_for_signing(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and usage.digital_signature:
        return True
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return usage is None
    return x509.oid.ExtendedKeyUsageOID.CODE_SIGNING in eku


def _key_hints(key: PublicKey) -> set[str]:
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {hashlib.sha256(pem).hexdigest(), keyid(key)}


def _signed_digests(payload: bytes) -> dict[str, tuple[str, str]] | Finding:
    """{file path: (algorithm, hex digest)} from a statement whose signature already verified."""
    try:
        statement = load_json(payload, limits.BUDGETS.signature_bytes, what=f"the statement {BUNDLE_FILE} signs")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return finding("MG-P514", f"{BUNDLE_FILE}: the signed statement is not JSON")
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        return finding("MG-P514", f"{BUNDLE_FILE}: the signed document is not an in-toto v1 statement")
    predicate_type = statement.get("predicateType")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not all(isinstance(s, dict) for s in subjects):
        return finding("MG-P514", f"{BUNDLE_FILE}: the statement has no subject list")
    if predicate_type == PREDICATE_V01:
        # v0.2 of model_signing: every file is a subject with its sha256; no root digest exists.
        out: dict[str, tuple[str, str]] = {}
        for s in subjects:
            name, digest = s.get("name"), (s.get("digest") or {}).get("sha256")
            if not isinstance(name, str) or not isinstance(digest, str):
                return finding("MG-P514", f"{BUNDLE_FILE}: a v0.1 subject lacks a name or sha256")
            out[name] = ("sha256", digest.lower())
        return out
    if predicate_type != PREDICATE_V1:
        return finding("MG-P514", f"{BUNDLE_FILE}: predicate type {predicate_type!r} is not a model_signing signature")
    return _v1_digests(statement, subjects)


def _v1_digests(statement: dict[str, Any], subjects: list[dict[str, Any]]) -> dict[str, tuple[str, str]] | Finding:
    if len(subjects) != 1:
        return finding("MG-P514", f"{BUNDLE_FILE}: a v1.0 statement has exactly one subject, this has {len(subjects)}")
    root = (subjects[0].get("digest") or {}).get("sha256")
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict) or not isinstance(predicate.get("resources"), list):
        return finding("MG-P514", f"{BUNDLE_FILE}: the predicate has no resources")
    serialization_args = predicate.get("serialization")
    method = serialization_args.get("method") if isinstance(serialization_args, dict) else None
    hasher = hashlib.sha256()
    out: dict[str, tuple[str, str]] = {}
    for resource in predicate["resources"]:
        name = resource.get("name") if isinstance(resource, dict) else None
        algorithm = resource.get("algorithm") if isinstance(resource, dict) else None
        digest_hex = resource.get("digest") if isinstance(resource, dict) else None
        try:
            digest = bytes.fromhex(digest_hex) if isinstance(digest_hex, str) else None
        except ValueError:
            digest = None
        if not isinstance(name, str) or not isinstance(algorithm, str) or digest is None or name in out:
            return finding("MG-P514", f"{BUNDLE_FILE}: a resource lacks a name, algorithm or hex digest, or repeats")
        hasher.update(digest)
        out[name] = (algorithm if method == "files" else f"{method}:{algorithm}", digest.hex())
    if not isinstance(root, str) or hasher.hexdigest() != root.lower():
        return finding("MG-P514", f"{BUNDLE_FILE}: the subject's root digest does not match the signed resources")
    return out


def _compare_files(signed: dict[str, tuple[str, str]], files: Mapping[str, str]) -> list[Finding]:
    if signed and all(alg != "sha256" for alg, _ in signed.values()):
        kinds = sorted({alg for alg, _ in signed.values()})
        return [finding("MG-P517", f"{BUNDLE_FILE} signs {', '.join(kinds)} digests, which cannot be compared with "
                        "the lockfile's SHA-256 of whole files")]
    out: list[Finding] = []
    for path, sha256 in sorted(files.items()):
        if path in _UNSIGNED_BY_DESIGN:
            continue  # the signature cannot sign itself; git metadata is never loaded (model_signing skips both)
        entry = signed.get(path)
        if entry is None:
            out.append(finding("MG-P516", f"{path} is locked but not listed in the signed manifest", path=path))
        elif entry[0] != "sha256":
            out.append(finding("MG-P517", f"{path} is signed as a {entry[0]} digest, not a SHA-256 of the file",
                               path=path))
        elif entry[1] != sha256.lower():
            out.append(finding("MG-P515", f"{path}: locked sha256 {sha256[:16]}… but the publisher signed "
                               f"{entry[1][:16]}…", path=path))
    return out


# --- reading the bundle ------------------------------------------------------------------------


def _read(bundle: str | os.PathLike[str] | bytes) -> bytes:
    """The bundle's bytes within the signature budget (:class:`OverBudget` past it)."""
    cap = limits.active().signature_bytes
    if isinstance(bundle, bytes):
        if len(bundle) > cap:
            raise OverBudget(limits.BUDGETS.signature_bytes, f"{BUNDLE_FILE} ({len(bundle)} bytes)")
        return bundle
    try:
        return read_capped(bundle, limits.BUDGETS.signature_bytes, cap, what=f"model signature {os.fspath(bundle)}")
    except FileNotFoundError:
        raise UnreadableError(f"cannot read model signature {os.fspath(bundle)}: it is missing") from None
    except UsageError as e:
        raise UnreadableError(e.message) from None


def _parse_bundle(raw: bytes) -> _Bundle | str:
    try:
        doc = load_json(raw, limits.BUDGETS.signature_bytes, what=BUNDLE_FILE)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "not JSON"
    if not isinstance(doc, dict):
        return "not a Sigstore bundle"
    if doc.get("mediaType") not in BUNDLE_MEDIA_TYPES:
        return f"media type {doc.get('mediaType')!r} is not a Sigstore bundle v0.3"
    material, envelope = doc.get("verificationMaterial"), doc.get("dsseEnvelope")
    if not isinstance(material, dict) or not isinstance(envelope, dict):
        return "verificationMaterial or dsseEnvelope missing"
    payload_type, payload = envelope.get("payloadType"), b64decode(envelope.get("payload"))
    raw_sigs = envelope.get("signatures")
    if not isinstance(payload_type, str) or payload is None or not isinstance(raw_sigs, list) or not raw_sigs:
        return "the DSSE envelope lacks a payload type, a base64 payload or signatures"
    sigs = [b64decode(s.get("sig")) if isinstance(s, dict) else None for s in raw_sigs]
    if any(s is None for s in sigs):
        return "a DSSE signature is not base64"
    leaf_der = _leaf_der(material)
    leaf = None
    if leaf_der is not None:
        try:
            leaf = x509.load_der_x509_certificate(leaf_der)
        except ValueError:
            return "the signing certificate is not DER x509"
    tlog = material.get("tlogEntries")
    keyless = leaf is not None and (bool(tlog) or _is_fulcio(leaf))
    hint = (material.get("publicKey") or {}).get("hint") if isinstance(material.get("publicKey"), dict) else ""
    if leaf is None and not isinstance(material.get("publicKey"), dict):
        return "verificationMaterial names neither a public key nor a certificate"
    return _Bundle(payload_type=payload_type, payload=payload, sigs=tuple(s for s in sigs if s is not None),
                   hint=hint.lower() if isinstance(hint, str) else "", leaf=leaf, keyless=keyless)


def _leaf_der(material: dict[str, Any]) -> bytes | None:
    chain = material.get("x509CertificateChain")
    if isinstance(chain, dict) and isinstance(chain.get("certificates"), list) and chain["certificates"]:
        first = chain["certificates"][0]
        return b64decode(first.get("rawBytes")) if isinstance(first, dict) else None
    cert = material.get("certificate")
    if isinstance(cert, dict):
        return b64decode(cert.get("rawBytes"))
    return None


def _is_fulcio(cert: x509.Certificate) -> bool:
    return any(ext.oid.dotted_string in _FULCIO_ISSUER_OIDS for ext in cert.extensions)
