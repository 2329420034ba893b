"""Signed lockfiles: keys, DSSE envelopes, ``modelguard sign`` and the lockfile-signature check.

Owns the DSSE primitives shared with :mod:`modelguard.trust.model_signature` (PAE, key ids, the
Ed25519 / ECDSA P-256 sign and verify calls) and the detached lockfile signature
``modelguard.lock.sig``: a DSSE envelope whose payload is the exact lockfile bytes.

Must not: print or log a private key (messages name the key's source, never its text); accept
any algorithm besides Ed25519 and ECDSA P-256 with SHA-256; trust a ``keyid`` written in an
envelope before the signature verifies under a key the policy lists.

DSSE (https://github.com/secure-systems-lab/dsse/blob/v1.0.0/protocol.md) signs
``PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body``, so the payload type
is bound to the bytes and a signature over one kind of document cannot be replayed as another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from modelguard.errors import LockfileError, SignatureError, UnreadableError, UsageError
from modelguard.models import Finding, Severity, failing
from modelguard.report.rules import finding
from modelguard.spec import filenames, ids, limits
from modelguard.spec.bounded import load_json, read_capped
from modelguard.spec.limits import OverBudget
from modelguard.spec.lockfile import read_lockfile_bytes
from modelguard.spec.types import Policy, Signer
from modelguard.store.atomic import replace_file

LOCK_PAYLOAD_TYPE = "application/vnd.modelguard.lock+toml"
SIGNATURE_SUFFIX = filenames.LOCK_SIGNATURE_SUFFIX
KEY_ENV = "MODELGUARD_SIGNING_KEY"
"""Environment variable holding a PEM private key (CI secrets), used when no --key is given."""
KEY_PASSWORD_ENV = "MODELGUARD_SIGNING_KEY_PASSWORD"  # noqa: S105 - a variable name, not a password

ED25519 = "ed25519"
ECDSA_P256 = "ecdsa-p256"

PrivateKey: TypeAlias = "ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey"
PublicKey: TypeAlias = "ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey"


# --- DSSE and keys ----------------------------------------------------------------------------


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE pre-authentication encoding; lengths are byte counts in ASCII decimal."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def keyid(public_key: PublicKey) -> str:
    """SHA-256 hex of the key's DER SubjectPublicKeyInfo: the id written in policies and envelopes."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def public_pem(public_key: PublicKey) -> str:
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode("ascii")


def algorithm_of(key: PublicKey | PrivateKey) -> str | None:
    """``ed25519``, ``ecdsa-p256``, or None for anything modelguard does not accept."""
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return ED25519
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) and isinstance(
        key.curve, ec.SECP256R1
    ):
        return ECDSA_P256
    return None


def load_private_key(source: str | os.PathLike[str] | bytes | None, *, password: str | None = None) -> PrivateKey:
    """A private key from PEM bytes, a PEM file, or (``source=None``) ``$MODELGUARD_SIGNING_KEY``.

    Errors name where the key came from, never its content.
    """
    if source is None:
        text = os.environ.get(KEY_ENV)
        if not text:
            raise UsageError(f"no signing key: pass --key FILE or set {KEY_ENV} to a PEM private key")
        if "-----BEGIN" not in text:
            # Said without the value: it may be the key itself, mangled by the CI secret store.
            raise UsageError(f"${KEY_ENV} holds no PEM block; it must hold the key itself (not a path: "
                             "use --key FILE for a file)")
        pem, origin = text.encode("utf-8"), f"${KEY_ENV}"
    elif isinstance(source, bytes):
        pem, origin = source, "the given key"
    else:
        origin = os.fspath(source)
        try:
            pem = Path(source).read_bytes()
        except OSError as e:
            raise UsageError(f"cannot read signing key {origin}: {e.strerror or e}") from None
    if password is None:
        password = os.environ.get(KEY_PASSWORD_ENV) or None
    try:
        key = serialization.load_pem_private_key(pem, password.encode("utf-8") if password else None)
    except TypeError:
        raise UsageError(f"signing key {origin} is encrypted; set {KEY_PASSWORD_ENV}") from None
    except (ValueError, UnsupportedAlgorithm):
        # The message of cryptography's error is not shown: it can quote parts of the input.
        raise UsageError(f"{origin} is not a PEM private key modelguard can read (or the password is wrong)") from None
    if not isinstance(key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)) or algorithm_of(key) is None:
        raise UsageError(f"signing key {origin} must be Ed25519 or ECDSA P-256")
    return key


def load_public_key(pem: str | bytes) -> PublicKey:
    """A public key from PEM; raises ValueError (callers turn it into a finding or ConfigError)."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("not a PEM public key") from None
    if not isinstance(key, (ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey)) or algorithm_of(key) is None:
        raise ValueError("public key is neither Ed25519 nor ECDSA P-256")
    return key


def sign_pae(key: PrivateKey, message: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    return key.sign(message, ec.ECDSA(hashes.SHA256()))


def signature_shape_problem(algorithm: str, sig: bytes) -> str | None:
    """Why ``sig`` cannot be a signature of ``algorithm`` at all (a different algorithm made it), or None."""
    if algorithm == ED25519:
        return None if len(sig) == 64 else f"{len(sig)}-byte signature, but Ed25519 signatures are 64 bytes"
    try:
        decode_dss_signature(sig)
    except ValueError:
        return "not a DER-encoded ECDSA signature" + (" (looks like Ed25519)" if len(sig) == 64 else "")
    return None


def verify_pae(public_key: PublicKey, message: bytes, sig: bytes) -> bool:
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(sig, message)
        else:
            public_key.verify(sig, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def b64decode(text: object) -> bytes | None:
    """Strict standard base64 (URL-safe accepted too, as DSSE allows); None when it is not."""
    if not isinstance(text, str):
        return None
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class TrustedKey:
    """A policy signer whose PEM parsed; ``problem`` says why it cannot be used (algorithm/keyid)."""

    signer: Signer
    key: PublicKey | None
    problem: str | None


def trusted_key(signer: Signer) -> TrustedKey:
    """Check a ``[[policy.signers]]`` entry against itself: PEM parses, algorithm and keyid agree."""
    try:
        key = load_public_key(signer.public_key_pem)
    except ValueError as e:
        return TrustedKey(signer, None, f"its public-key is unusable ({e})")
    actual = algorithm_of(key)
    if actual != signer.algorithm:
        return TrustedKey(signer, key, f"it declares {signer.algorithm} but its public key is {actual}")
    if keyid(key) != signer.keyid:
        return TrustedKey(signer, key, f"its keyid does not match its public key (which has keyid {keyid(key)})")
    return TrustedKey(signer, key, None)


# --- lockfile signatures ------------------------------------------------------------------------


def signature_path(lockfile_path: str | os.PathLike[str]) -> Path:
    return filenames.lock_signature_of(lockfile_path)


def sign_lockfile(
    lockfile_path: str | os.PathLike[str],
    key: str | os.PathLike[str] | bytes | None = None,
    *,
    password: str | None = None,
) -> Path:
    """Write ``<lockfile>.sig`` (atomically): a DSSE envelope over the exact lockfile bytes.

    ``key`` is a PEM file path, PEM bytes, or None for ``$MODELGUARD_SIGNING_KEY``.
    """
    private = load_private_key(key, password=password)
    try:
        body = read_lockfile_bytes(os.fspath(lockfile_path))
    except LockfileError as e:
        if e.rule == "MG-L002":
            raise UsageError(f"no lockfile at {os.fspath(lockfile_path)}; run `modelguard lock` first") from None
        raise
    envelope = {
        "payloadType": LOCK_PAYLOAD_TYPE,
        "payload": base64.b64encode(body).decode("ascii"),
        "signatures": [{
            "keyid": keyid(private.public_key()),
            "sig": base64.b64encode(sign_pae(private, pae(LOCK_PAYLOAD_TYPE, body))).decode("ascii"),
        }],
    }
    out = signature_path(lockfile_path)
    replace_file(out, json.dumps(envelope, indent=2) + "\n")
    return out


def public_key_for(key: str | os.PathLike[str] | None = None) -> PublicKey:
    """The public half of ``key`` (a PEM file), which may also be a public PEM (a teammate's key);
    None: ``$MODELGUARD_SIGNING_KEY``."""
    if key is not None:
        try:
            data = Path(key).read_bytes()
        except OSError as e:
            raise UsageError(f"cannot read {os.fspath(key)}: {e.strerror or e}") from None
        if b"-----BEGIN PUBLIC KEY-----" in data:
            try:
                return load_public_key(data)
            except ValueError as e:
                raise UsageError(f"{os.fspath(key)}: {e}") from None
    return load_private_key(key).public_key()


def signer_scope(scope: str) -> str:
    """``scope`` when a signer may have it: ``lockfile``, ``"*"``, an org or ``org/name``; else :class:`UsageError`."""
    problem = ids.scope_problem(scope) if scope != "lockfile" else None
    if problem:
        raise UsageError(f"--scope {scope!r} {problem} (or lockfile)")
    return scope


def signer_entry(public: PublicKey, *, scope: str = "lockfile") -> str:
    """The ``[[policy.signers]]`` TOML a reviewer pastes into the policy to trust ``public``."""
    signer_scope(scope)
    return (
        "[[policy.signers]]\n"
        f'keyid = "{keyid(public)}"\n'
        f'algorithm = "{algorithm_of(public)}"\n'
        f'scope = "{scope}"\n'
        f'public-key = """\n{public_pem(public).strip()}\n"""\n'
    )


def lockfile_signers(policy: Policy) -> list[Signer]:
    return [s for s in policy.signers if s.scope in ("lockfile", "*")]


def verify_lockfile_signature(lockfile_path: str | os.PathLike[str], policy: Policy) -> list[Finding]:
    """Findings about ``<lockfile>.sig`` under ``policy``; empty when a trusted signature verifies.

    Checked whenever the policy lists lockfile signers (scope ``lockfile`` or ``*``) or sets
    ``require-signature``; otherwise there is nothing to check and nothing is reported. A caller
    that already holds the lockfile bytes it parsed should use :func:`check_lockfile_signature`.
    """
    if not lockfile_signers(policy) and not policy.require_signature:
        return []
    where = os.fspath(lockfile_path)
    body = read_lockfile_bytes(where)
    try:
        envelope = read_envelope(lockfile_path)
    except OverBudget as e:
        return [envelope_over_budget(lockfile_path, e)]
    return check_lockfile_signature(body, envelope, policy, where=where)


def read_envelope(lockfile_path: str | os.PathLike[str]) -> bytes | None:
    """The bytes of ``<lockfile>.sig`` (None: there is none), read within its budget (4/3 of the lockfile's:
    the envelope carries the lockfile in base64); :class:`OverBudget` past it, never read whole."""
    sig_file = signature_path(lockfile_path)
    try:
        return read_capped(sig_file, limits.BUDGETS.signature_bytes, limits.active().lock_signature_bytes)
    except FileNotFoundError:
        return None
    except UsageError as e:  # a folder, a device or a FIFO where the signature should be
        raise UnreadableError(e.message) from None


def envelope_over_budget(lockfile_path: str | os.PathLike[str], e: OverBudget) -> Finding:
    """MG-L025: the signature is larger than any signature of a lockfile within budget; not parsed."""
    return finding("MG-L025", f"{signature_path(lockfile_path).name}: {e.message}", path=os.fspath(lockfile_path))


def check_lockfile_signature(body: bytes, envelope: bytes | None, policy: Policy, *, where: str) -> list[Finding]:
    """The check itself, on the exact lockfile bytes a caller parsed and the envelope (None: no .sig)."""
    sig_name = Path(where).name + SIGNATURE_SUFFIX
    signers = lockfile_signers(policy)
    if not signers and not policy.require_signature:
        return []
    if not signers:
        return [finding("MG-L107", "require-signature is set but the policy lists no [[policy.signers]] with "
                        "scope \"lockfile\" or \"*\"; no signature can be trusted", path=where)]
    if envelope is None:
        sev = None if policy.require_signature else Severity.INFO
        return [finding("MG-L101", f"{sig_name} is missing; the lockfile is not signed", path=where, severity=sev)]
    return _check_envelope(envelope, body, signers, where=where, sig_name=sig_name)


def require_lockfile_signature(lockfile_path: str | os.PathLike[str], policy: Policy) -> None:
    """Raise :class:`SignatureError` unless the lockfile signature passes at the policy's fail-on."""
    for f in failing(verify_lockfile_signature(lockfile_path, policy), policy.fail_on):
        raise SignatureError(f"{f.path}: {f.message}", rule=f.rule)


def _check_envelope(raw: bytes, body: bytes, signers: Sequence[Signer], *, where: str, sig_name: str) -> list[Finding]:
    if len(raw) > limits.active().lock_signature_bytes:
        return [finding("MG-L025", limits.over(limits.BUDGETS.signature_bytes, f"{sig_name} ({len(raw)} bytes)"),
                        path=where)]
    try:
        envelope = _parse_envelope(raw)
    except OverBudget as e:
        return [finding("MG-L025", f"{sig_name}: {e.message}", path=where)]
    if isinstance(envelope, str):
        return [finding("MG-L106", f"{sig_name} is not a modelguard lockfile signature: {envelope}", path=where)]
    payload_type, payload, signatures = envelope
    if payload_type != LOCK_PAYLOAD_TYPE:
        return [finding("MG-L106", f"{sig_name} signs a {payload_type!r} document, not a modelguard lockfile",
                        path=where)]
    by_keyid: dict[str, list[TrustedKey]] = {}
    for s in signers:
        by_keyid.setdefault(s.keyid, []).append(trusted_key(s))
    problems: list[Finding] = []
    # 1. The signature must verify before anything in the envelope is believed.
    # 2. Only then is the payload compared with the lockfile bytes on disk.
    for key_id, sig in signatures:
        candidates = by_keyid.get(key_id, [])
        if not candidates:
            problems.append(finding("MG-L104", f"{sig_name} is signed by key {key_id[:16]}…, which the policy does "
                                    "not list as a lockfile signer", path=where))
            continue
        for trusted in candidates:
            line = f" (policy line {trusted.signer.line})" if trusted.signer.line else ""
            if trusted.problem or trusted.key is None:
                problems.append(finding("MG-L105", f"signer {key_id[:16]}…{line} cannot be used: {trusted.problem}",
                                        path=where))
                continue
            shape = signature_shape_problem(trusted.signer.algorithm, sig)
            if shape:
                problems.append(finding("MG-L105", f"{sig_name}: signer {key_id[:16]}…{line} uses "
                                        f"{trusted.signer.algorithm}, but the signature is {shape}", path=where))
                continue
            if not verify_pae(trusted.key, pae(payload_type, payload), sig):
                problems.append(finding("MG-L103", f"{sig_name}: the signature by {key_id[:16]}… does not verify; "
                                        "the signature or its payload was altered", path=where))
                continue
            if payload != body:
                return [finding("MG-L102", f"the lockfile changed after it was signed by {key_id[:16]}…; re-sign it "
                                "with `modelguard sign` after reviewing the change", path=where)]
            return []
    return problems


def _parse_envelope(raw: bytes) -> tuple[str, bytes, list[tuple[str, bytes]]] | str:
    """(payloadType, payload, [(keyid, sig)]) or why the envelope is malformed."""
    try:
        doc = load_json(raw, limits.BUDGETS.signature_bytes, what="the envelope")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "not JSON"
    if not isinstance(doc, dict):
        return "not a JSON object"
    payload_type = doc.get("payloadType")
    payload = b64decode(doc.get("payload"))
    sigs = doc.get("signatures")
    if not isinstance(payload_type, str) or payload is None:
        return "payloadType or payload missing or not base64"
    if not isinstance(sigs, list) or not sigs:
        return "no signatures"
    out: list[tuple[str, bytes]] = []
    for entry in sigs:
        if not isinstance(entry, dict):
            return "a signature entry is not an object"
        key_id, sig = entry.get("keyid"), b64decode(entry.get("sig"))
        if not isinstance(key_id, str) or sig is None:
            return "a signature has no keyid or its sig is not base64"
        out.append((key_id, sig))
    return payload_type, payload, out


