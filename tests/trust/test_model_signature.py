"""OpenSSF model_signing bundles (model.sig), built here from the published format, verified offline."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from modelguard.models import Severity
from modelguard.spec.types import Policy
from modelguard.trust import lock_signature as signing
from modelguard.trust.model_signature import signature_required, verify_model_signature
from tests.trust_keys import new_key, signer_for

REPO = "acme/tiny-bert"
CONTENT = {"model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ", "config.json": b'{"a": 1}\n'}
FILES = {path: hashlib.sha256(data).hexdigest() for path, data in CONTENT.items()}


def statement(files: Mapping[str, str], *, predicate_type: str = "https://model_signing/signature/v1.0",
              method: str = "files", root: str | None = None) -> dict[str, Any]:
    """An in-toto statement as model_signing v1.0 writes it: resources sorted, root = sha256(digests)."""
    resources = [{"name": name, "algorithm": "sha256", "digest": digest} for name, digest in sorted(files.items())]
    if method == "shards":
        resources = [{"name": f"{r['name']}:0:1000000000", "algorithm": "sha256", "digest": r["digest"]}
                     for r in resources]
    hasher = hashlib.sha256()
    for r in resources:
        hasher.update(bytes.fromhex(r["digest"]))
    serialization_args: dict[str, Any] = {"method": method, "hash_type": "sha256", "allow_symlinks": False,
                                          "ignore_paths": ["model.sig", ".git", ".gitattributes"]}
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "tiny-bert", "digest": {"sha256": root or hasher.hexdigest()}}],
        "predicateType": predicate_type,
        "predicate": {"serialization": serialization_args, "resources": resources},
    }


def bundle(key: signing.PrivateKey, stmt: Mapping[str, Any], *, material: dict[str, Any] | None = None,
           payload_type: str = "application/vnd.in-toto+json") -> bytes:
    payload = json.dumps(stmt).encode()
    sig = signing.sign_pae(key, signing.pae(payload_type, payload))
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if material is None:
        material = {"publicKey": {"hint": hashlib.sha256(pem).hexdigest()}, "tlogEntries": []}
    return json.dumps({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": material,
        "dsseEnvelope": {"payload": base64.b64encode(payload).decode(), "payloadType": payload_type,
                         "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}]},
    }).encode()


def certificate(key: signing.PrivateKey, *, fulcio: bool = False, signing_usage: bool = True) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme model signing")])
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
               .not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.KeyUsage(digital_signature=signing_usage, content_commitment=False,
                                            key_encipherment=not signing_usage, data_encipherment=False,
                                            key_agreement=False, key_cert_sign=False, crl_sign=False,
                                            encipher_only=False, decipher_only=False), critical=True))
    if fulcio:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), b"https://accounts.example"),
            critical=False)
    algorithm = None if signing.algorithm_of(key) == "ed25519" else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]


def rules(findings: list) -> list[str]:
    return [f.rule for f in findings]


def org_policy(key: signing.PrivateKey, scope: str = "acme", **kw: Any) -> Policy:
    return Policy(signers=(signer_for(key, scope=scope),), **kw)


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256"])
def test_key_signed_bundle_verifies(algorithm: str) -> None:
    key = new_key(algorithm)
    raw = bundle(key, statement(FILES))
    assert verify_model_signature(raw, FILES, org_policy(key), repo=REPO, model_name="bert") == []
    assert verify_model_signature(raw, FILES, org_policy(key, scope=REPO), repo=REPO) == []


def test_bundle_read_from_a_file(tmp_path) -> None:
    key = new_key("ecdsa-p256")
    path = tmp_path / "model.sig"
    path.write_bytes(bundle(key, statement(FILES)))
    assert verify_model_signature(path, FILES, org_policy(key), repo=REPO) == []


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256"])
def test_changed_file_does_not_verify(algorithm: str) -> None:
    key = new_key(algorithm)
    raw = bundle(key, statement(FILES))
    changed = {**FILES, "model.safetensors": hashlib.sha256(b"other weights").hexdigest()}
    found = verify_model_signature(raw, changed, org_policy(key), repo=REPO, model_name="bert")
    assert rules(found) == ["MG-P515"]
    assert found[0].path == "model.safetensors" and found[0].model == "bert" and found[0].severity is Severity.HIGH


def test_locked_file_not_in_signed_manifest() -> None:
    key = new_key("ed25519")
    raw = bundle(key, statement(FILES))
    extra = {**FILES, "modeling_evil.py": "ab" * 32, ".gitattributes": "cd" * 32, "model.sig": "ef" * 32}
    found = verify_model_signature(raw, extra, org_policy(key), repo=REPO)
    assert rules(found) == ["MG-P516"] and found[0].path == "modeling_evil.py"


def test_untrusted_key_does_not_verify() -> None:
    trusted, other = new_key("ed25519"), new_key("ed25519")
    found = verify_model_signature(bundle(other, statement(FILES)), FILES, org_policy(trusted), repo=REPO)
    assert rules(found) == ["MG-P512", "MG-P510"]


def test_untrusted_key_without_hint() -> None:
    trusted, other = new_key("ecdsa-p256"), new_key("ecdsa-p256")
    raw = bundle(other, statement(FILES), material={"publicKey": {}, "tlogEntries": []})
    assert rules(verify_model_signature(raw, FILES, org_policy(trusted), repo=REPO))[0] == "MG-P512"


def test_signer_of_another_org_is_not_trusted() -> None:
    key = new_key("ed25519")
    found = verify_model_signature(bundle(key, statement(FILES)), FILES, org_policy(key, scope="google"), repo=REPO)
    assert rules(found) == ["MG-P512"] and found[0].severity is Severity.INFO  # nobody listed for acme: info only


def test_tampered_statement_does_not_verify() -> None:
    key = new_key("ecdsa-p256")
    doc = json.loads(bundle(key, statement(FILES)))
    evil = {**FILES, "model.safetensors": "00" * 32}
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement(evil)).encode()).decode()
    found = verify_model_signature(json.dumps(doc).encode(), evil, org_policy(key), repo=REPO)
    assert rules(found) == ["MG-P511", "MG-P510"]


def test_declared_algorithm_mismatch() -> None:
    key = new_key("ed25519")
    policy = Policy(signers=(signer_for(key, scope="acme", algorithm="ecdsa-p256"),))
    found = verify_model_signature(bundle(key, statement(FILES)), FILES, policy, repo=REPO)
    assert rules(found)[0] == "MG-P513"


def test_root_digest_inconsistent() -> None:
    key = new_key("ed25519")
    found = verify_model_signature(bundle(key, statement(FILES, root="11" * 32)), FILES, org_policy(key), repo=REPO)
    assert rules(found)[0] == "MG-P514" and "root digest" in found[0].message


@pytest.mark.parametrize("change", [
    {"_type": "https://in-toto.io/Statement/v0.1"},
    {"predicateType": "https://example.com/other"},
])
def test_wrong_statement_or_predicate_type(change: dict[str, str]) -> None:
    key = new_key("ed25519")
    found = verify_model_signature(bundle(key, {**statement(FILES), **change}), FILES, org_policy(key), repo=REPO)
    assert rules(found)[0] == "MG-P514"


def test_wrong_payload_type() -> None:
    key = new_key("ed25519")
    raw = bundle(key, statement(FILES), payload_type="application/json")
    assert rules(verify_model_signature(raw, FILES, org_policy(key), repo=REPO))[0] == "MG-P514"


@pytest.mark.parametrize("raw", [b"nope", b"{}", b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}'])
def test_malformed_bundle(raw: bytes) -> None:
    found = verify_model_signature(raw, FILES, org_policy(new_key("ed25519")), repo=REPO)
    assert rules(found) == ["MG-P514", "MG-P510"]


def test_v01_predicate_compat() -> None:
    key = new_key("ecdsa-p256")
    stmt = {"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://model_signing/Digests/v0.1",
            "subject": [{"name": n, "digest": {"sha256": d}} for n, d in sorted(FILES.items())], "predicate": {}}
    assert verify_model_signature(bundle(key, stmt), FILES, org_policy(key), repo=REPO) == []
    changed = {**FILES, "config.json": "22" * 32}
    assert rules(verify_model_signature(bundle(key, stmt), changed, org_policy(key), repo=REPO)) == ["MG-P515"]


def test_shard_serialization_cannot_vouch_for_whole_files() -> None:
    key = new_key("ed25519")
    found = verify_model_signature(bundle(key, statement(FILES, method="shards")), FILES, org_policy(key), repo=REPO)
    assert rules(found) == ["MG-P517", "MG-P510"]


@pytest.mark.parametrize("algorithm", ["ed25519", "ecdsa-p256"])
def test_certificate_signed_bundle_pinned_by_key(algorithm: str) -> None:
    key = new_key(algorithm)
    der = certificate(key)
    material = {"x509CertificateChain": {"certificates": [{"rawBytes": base64.b64encode(der).decode()}]}}
    raw = bundle(key, statement(FILES), material=material)
    assert verify_model_signature(raw, FILES, org_policy(key), repo=REPO) == []
    other = new_key(algorithm)
    assert rules(verify_model_signature(raw, FILES, org_policy(other), repo=REPO)) == ["MG-P512", "MG-P510"]


def test_certificate_not_for_signing() -> None:
    key = new_key("ecdsa-p256")
    material = {"x509CertificateChain": {"certificates": [
        {"rawBytes": base64.b64encode(certificate(key, signing_usage=False)).decode()}]}}
    found = verify_model_signature(bundle(key, statement(FILES), material=material), FILES, org_policy(key), repo=REPO)
    assert rules(found)[0] == "MG-P512" and "digital signatures" in found[0].message


def test_keyless_bundle_is_present_not_verified() -> None:
    key = new_key("ecdsa-p256")  # stands in for Fulcio's ephemeral key
    material = {"certificate": {"rawBytes": base64.b64encode(certificate(key, fulcio=True)).decode()},
                "tlogEntries": [{"logIndex": "123", "kindVersion": {"kind": "dsse", "version": "0.0.1"}}]}
    raw = bundle(key, statement(FILES), material=material)
    found = verify_model_signature(raw, FILES, Policy(), repo=REPO)
    assert rules(found) == ["MG-P518"] and found[0].severity is Severity.INFO
    assert "not verified offline" in found[0].message
    # even when its key is listed: keyless means no verdict offline, and a required signature is missing
    found = verify_model_signature(raw, FILES, org_policy(key), repo=REPO)
    assert rules(found) == ["MG-P518", "MG-P510"]


def test_no_bundle() -> None:
    key = new_key("ed25519")
    assert verify_model_signature(None, FILES, Policy(), repo=REPO) == []
    assert verify_model_signature(None, FILES, org_policy(key, scope="*"), repo=REPO) == []
    found = verify_model_signature(None, FILES, org_policy(key), repo=REPO, model_name="bert")
    assert rules(found) == ["MG-P510"] and found[0].model == "bert"


def test_unsigned_policy_ignores_present_signature() -> None:
    key = new_key("ed25519")
    found = verify_model_signature(bundle(key, statement(FILES)), FILES, Policy(), repo=REPO)
    assert rules(found) == ["MG-P512"] and found[0].severity is Severity.INFO


def test_signature_required_rules() -> None:
    key = new_key("ed25519")
    assert signature_required(org_policy(key), REPO)
    assert signature_required(org_policy(key, scope=REPO), REPO)
    assert not signature_required(org_policy(key, scope="google"), REPO)
    assert not signature_required(org_policy(key, scope="*"), REPO)
    assert signature_required(org_policy(key, scope="*", require_signature=True), REPO)
    assert not signature_required(org_policy(key, scope="lockfile", require_signature=True), REPO)


def test_locked_model_findings_reads_the_bundle_from_the_snapshot(tmp_path) -> None:
    from modelguard.spec.types import LockedFile, LockedHFModel
    from modelguard.trust.checks import locked_model_findings

    key = new_key("ed25519")
    raw = bundle(key, statement(FILES))
    (tmp_path / "model.sig").write_bytes(raw)
    locked_files = [LockedFile(path=p, size=1, sha256=d, published="lfs-sha256") for p, d in FILES.items()]
    sig_file = LockedFile(path="model.sig", size=len(raw), sha256=hashlib.sha256(raw).hexdigest(),
                          published="git-blob-sha1")
    model = LockedHFModel(name="bert", repo=REPO, requested_revision="main", commit="a" * 40,
                          files=(*locked_files, sig_file))
    assert locked_model_findings(org_policy(key), model, tmp_path) == []
    unsigned = LockedHFModel(name="bert", repo=REPO, requested_revision="main", commit="a" * 40,
                             files=tuple(locked_files))
    assert rules(locked_model_findings(org_policy(key), unsigned, tmp_path)) == ["MG-P510"]
    assert locked_model_findings(org_policy(key), model, None) == []  # bytes unavailable: revocation only


@pytest.mark.parametrize("raw", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000])
def test_nesting_bomb_is_over_budget_never_parsed(raw: bytes) -> None:
    key = new_key("ed25519")
    found = verify_model_signature(raw, FILES, org_policy(key), repo=REPO)
    assert rules(found)[:1] == ["MG-L025"] and "MODELGUARD_LIMIT_JSON_DEPTH" in found[0].message


def test_bundle_larger_than_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELGUARD_LIMIT_SIGNATURE_BYTES", "1000")
    key = new_key("ed25519")
    found = verify_model_signature(b" " * 2000, FILES, org_policy(key), repo=REPO)
    assert rules(found)[:1] == ["MG-L025"] and "MODELGUARD_LIMIT_SIGNATURE_BYTES" in found[0].message


def test_statement_nesting_bomb_inside_a_valid_signature() -> None:
    key = new_key("ed25519")
    stmt = statement(FILES)
    stmt["predicate"]["extra"] = json.loads("[" * 60 + "]" * 60)
    deep = bundle(key, stmt)  # a real signature over a statement 62 levels deep: within budget, parsed
    assert "MG-L025" not in rules(verify_model_signature(deep, FILES, org_policy(key), repo=REPO))
    payload = b'{"_type": ' + b"[" * 100 + b"]" * 100 + b"}"
    found = verify_model_signature(_signed_bundle(key, payload), FILES, org_policy(key), repo=REPO)
    assert rules(found)[:1] == ["MG-L025"]


def _signed_bundle(key: signing.PrivateKey, payload: bytes) -> bytes:
    sig = signing.sign_pae(key, signing.pae("application/vnd.in-toto+json", payload))
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return json.dumps({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": hashlib.sha256(pem).hexdigest()}, "tlogEntries": []},
        "dsseEnvelope": {"payload": base64.b64encode(payload).decode(), "payloadType": "application/vnd.in-toto+json",
                         "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}]},
    }).encode()
