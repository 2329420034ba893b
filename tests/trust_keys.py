"""Keys and policy signer entries generated in the test, for the signature tests."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from modelguard.spec.types import Signer
from modelguard.trust import lock_signature as signing


def new_key(algorithm: str) -> signing.PrivateKey:
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def private_pem(key: signing.PrivateKey, password: bytes | None = None) -> bytes:
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def write_key(folder: Path, key: signing.PrivateKey, name: str = "key.pem") -> Path:
    path = folder / name
    path.write_bytes(private_pem(key))
    path.chmod(0o600)
    return path


def signer_for(key: signing.PrivateKey, *, scope: str = "lockfile", algorithm: str | None = None) -> Signer:
    public = key.public_key()
    return Signer(
        keyid=signing.keyid(public),
        algorithm=algorithm or str(signing.algorithm_of(public)),
        public_key_pem=signing.public_pem(public),
        scope=scope,
        line=7,
    )
