"""Trust end to end: signed lockfiles, model signatures and revocation through the real fetch and
verify commands against the loopback fake Hub, and the audit log they write."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from modelguard.api import snapshot
from modelguard.cli import run
from modelguard.errors import NotAdmittedError
from modelguard.trust import lock_signature as signing
from modelguard.trust.lock_signature import signer_entry
from tests.cache_helpers import publish, write_project
from tests.fakehub import FakeHub
from tests.trust_keys import new_key, write_key

FILES = {"weights.bin": b"tensor bytes " * 64, "config.txt": b"hidden=4\n"}


def fetch(hub: FakeHub, lock: Path, cache: Path, capsys) -> tuple[int, dict]:
    code = run(["--endpoint", hub.endpoint, "fetch", "--lockfile", str(lock), "--cache-dir", str(cache),
                "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def verify(lock: Path, cache: Path, capsys) -> tuple[int, dict]:
    code = run(["verify", "--lockfile", str(lock), "--cache-dir", str(cache), "--format", "json"])
    return code, json.loads(capsys.readouterr().out)


def rules(doc: dict) -> set[str]:
    return {f["rule"] for f in doc["findings"]} | {f["rule"] for r in doc["files"] for f in r["findings"]}


def audit_lines(cache: Path) -> list[dict]:
    return [json.loads(line) for line in (cache / "audit.log").read_text().splitlines()]


def snapshot_dir(cache: Path, repo: str, commit: str) -> Path:
    return cache / "hub" / ("models--" + repo.replace("/", "--")) / "snapshots" / commit


def test_revoke_then_fetch_and_verify_refuse(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    model = publish(fake_hub, "tiny", "acme/tiny", FILES)
    proj, cache = tmp_path / "proj", tmp_path / "cache"
    proj.mkdir()
    lock, _ = write_project(proj, [model], 'allowed-orgs = ["acme"]')
    assert fetch(fake_hub, lock, cache, capsys)[0] == 0
    assert snapshot_dir(cache, "acme/tiny", model.commit).is_dir()

    code = run(["revoke", f"acme/tiny@{model.commit}", "--reason", "INC-7: backdoor in weights.bin",
                "--manifest", str(proj / "modelguard.toml"), "--cache-dir", str(cache)])
    assert code == 0
    capsys.readouterr()
    assert not snapshot_dir(cache, "acme/tiny", model.commit).exists()

    code, doc = verify(lock, cache, capsys)
    assert code == 1 and "MG-P501" in rules(doc)
    assert any("INC-7" in f["message"] for f in doc["findings"])
    before = len(fake_hub.requests)
    code = run(["--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock), "--cache-dir", str(cache)])
    assert code == 1 and "INC-7" in capsys.readouterr().out  # refused by name in the report, not as a stale lock
    assert len(fake_hub.requests) == before  # no download
    assert not snapshot_dir(cache, "acme/tiny", model.commit).exists()

    log = audit_lines(cache)
    assert [(r["command"], r.get("action", ""), r.get("outcome", "")) for r in log] == [
        ("fetch", "admit", "intent"), ("fetch", "", "admitted"), ("revoke", "revoke", ""), ("revoke", "evict", ""),
        ("verify", "", "rejected"), ("fetch", "", "refused")]
    assert log[0]["files"]["weights.bin"] == log[1]["files"]["weights.bin"] == hashlib.sha256(
        FILES["weights.bin"]).hexdigest()
    assert log[2]["evicts"] == [f"acme/tiny@{model.commit}"]  # the revoke line says what it will evict, first
    assert log[5]["rules"] == ["MG-P501"] and "INC-7" in log[5]["reason"]


def test_fetch_refuses_a_revoked_model_and_the_others_proceed(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    bad = publish(fake_hub, "bad", "acme/bad", FILES)
    good = publish(fake_hub, "good", "acme/good", {**FILES, "config.txt": b"hidden=8\n"})
    proj, cache = tmp_path / "proj", tmp_path / "cache"
    proj.mkdir()
    lock, _ = write_project(proj, [bad, good], 'allowed-orgs = ["acme"]')
    assert run(["revoke", f"acme/bad@{bad.commit}", "--reason", "INC-9", "--manifest", str(proj / "modelguard.toml"),
                "--cache-dir", str(cache)]) == 0
    capsys.readouterr()
    fake_hub.clear_requests()
    code, doc = fetch(fake_hub, lock, cache, capsys)
    assert code == 1 and "MG-P501" in rules(doc)
    assert {m["name"]: m["status"] for m in doc["models"]} == {"bad": "refused", "good": "admitted"}
    assert not any("acme/bad" in r.path for r in fake_hub.requests)  # nothing asked about the revoked model
    assert not snapshot_dir(cache, "acme/bad", bad.commit).exists()
    assert snapshot_dir(cache, "acme/good", good.commit).is_dir()


def test_fetch_evicts_every_snapshot_holding_a_file_revoked_elsewhere(
    fake_hub: FakeHub, tmp_path: Path, capsys
) -> None:
    """A file hash revoked on another machine (the policy edited, not `revoke` here) is evicted by this
    machine's next fetch from every snapshot that holds it, as `revoke` would: also from a model that
    another project on this machine locks, whose policy does not know of the revocation."""
    poisoned = b"hidden=4\n"
    a = publish(fake_hub, "a", "acme/a", {"weights.bin": b"a tensor " * 64, "config.txt": poisoned})
    b = publish(fake_hub, "b", "acme/b", {"weights.bin": b"b tensor " * 64, "config.txt": poisoned})
    cache = tmp_path / "cache"
    (tmp_path / "pa").mkdir()
    (tmp_path / "pb").mkdir()
    lock_a, _ = write_project(tmp_path / "pa", [a], 'allowed-orgs = ["acme"]')
    lock_b, _ = write_project(tmp_path / "pb", [b], 'allowed-orgs = ["acme"]')
    assert fetch(fake_hub, lock_a, cache, capsys)[0] == 0
    assert fetch(fake_hub, lock_b, cache, capsys)[0] == 0
    sha = hashlib.sha256(poisoned).hexdigest()
    with (tmp_path / "pa" / "modelguard.toml").open("a") as f:
        f.write(f'\n[[policy.revoked]]\ntarget = "sha256:{sha}"\nreason = "INC-12: poisoned config"\n'
                'date = 2026-11-25\n')

    code, doc = fetch(fake_hub, lock_a, cache, capsys)
    assert code == 1 and "MG-P502" in rules(doc)
    assert not snapshot_dir(cache, "acme/a", a.commit).exists()
    assert not snapshot_dir(cache, "acme/b", b.commit).exists()
    evictions = [(r["repo"], r["commit"]) for r in audit_lines(cache) if r.get("action") == "evict"]
    assert sorted(evictions) == [("acme/a", a.commit), ("acme/b", b.commit)]
    # project b's own policy knows nothing of the revocation: its snapshot is refused as no longer admitted
    code, doc = verify(lock_b, cache, capsys)
    assert code == 1 and "MG-H101" in rules(doc)
    (tmp_path / "pb" / "modelguard.toml").unlink()  # a deployed image ships only the lockfile
    with pytest.raises(NotAdmittedError):
        snapshot("b", lockfile=lock_b, cache_dir=cache)


def test_revoked_file_hash_in_an_org_policy_file(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    model = publish(fake_hub, "tiny", "acme/tiny", FILES)
    proj, cache = tmp_path / "proj", tmp_path / "cache"
    proj.mkdir()
    lock, _ = write_project(proj, [model], 'allowed-orgs = ["acme"]')
    assert fetch(fake_hub, lock, cache, capsys)[0] == 0
    # the org moves its policy to a shared file, as a fleet would
    (tmp_path / "org-policy.toml").write_text('allowed-orgs = ["acme"]\n')
    manifest = (proj / "modelguard.toml").read_text().replace('[policy]\nallowed-orgs = ["acme"]\n',
                                                                'policy-file = "../org-policy.toml"\n')
    (proj / "modelguard.toml").write_text(manifest)
    sha = hashlib.sha256(FILES["config.txt"]).hexdigest()
    assert run(["revoke", f"sha256:{sha}", "--reason", "poisoned config", "--policy",
                str(tmp_path / "org-policy.toml"), "--cache-dir", str(cache)]) == 0
    capsys.readouterr()
    code, doc = verify(lock, cache, capsys)
    assert code == 1 and "MG-P502" in rules(doc)
    assert not snapshot_dir(cache, "acme/tiny", model.commit).exists()


def test_verify_require_signature_flag_tightens_the_policy(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    key = new_key("ed25519")
    key_path = write_key(tmp_path, key)
    model = publish(fake_hub, "tiny", "acme/tiny", FILES)
    proj, cache = tmp_path / "proj", tmp_path / "cache"
    proj.mkdir()
    lock, _ = write_project(proj, [model], 'allowed-orgs = ["acme"]\n\n' + signer_entry(key.public_key()))
    assert fetch(fake_hub, lock, cache, capsys)[0] == 0
    code, doc = verify(lock, cache, capsys)
    assert code == 0 and "MG-L101" in rules(doc)  # listed signer, no signature: info only
    code = run(["verify", "--require-signature", "--lockfile", str(lock), "--cache-dir", str(cache),
                "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and any(f["rule"] == "MG-L101" and f["severity"] != "info" for f in doc["findings"])
    assert run(["sign", "--key", str(key_path), "--lockfile", str(lock)]) == 0
    capsys.readouterr()
    assert run(["verify", "--require-signature", "--lockfile", str(lock), "--cache-dir", str(cache)]) == 0


def test_signed_lockfile_through_verify(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    key = new_key("ecdsa-p256")
    key_path = write_key(tmp_path, key)
    model = publish(fake_hub, "tiny", "acme/tiny", FILES)
    proj, cache = tmp_path / "proj", tmp_path / "cache"
    proj.mkdir()
    policy = 'allowed-orgs = ["acme"]\nrequire-signature = true\n\n' + signer_entry(key.public_key())
    lock, _ = write_project(proj, [model], policy)
    # Required and missing: fetch refuses before any request and admits nothing; verify reports it.
    code = run(["--endpoint", fake_hub.endpoint, "fetch", "--lockfile", str(lock), "--cache-dir", str(cache)])
    err = capsys.readouterr().err
    assert code == 1 and "MG-L101" in err and "nothing was fetched" in err
    assert fake_hub.requests == [] and not cache.exists()
    cache.mkdir()
    code, doc = verify(lock, cache, capsys)
    assert code == 1 and "MG-L101" in rules(doc)
    assert run(["sign", "--key", str(key_path), "--lockfile", str(lock)]) == 0
    capsys.readouterr()
    assert fetch(fake_hub, lock, cache, capsys)[0] == 0
    code, doc = verify(lock, cache, capsys)
    assert code == 0, doc
    lock.write_text(lock.read_text() + "\n")  # any change after signing
    code, doc = verify(lock, cache, capsys)
    assert code == 1 and "MG-L102" in rules(doc)
    other = write_key(tmp_path, new_key("ed25519"), "other.pem")
    assert run(["sign", "--key", str(other), "--lockfile", str(lock)]) == 0
    capsys.readouterr()
    code, doc = verify(lock, cache, capsys)
    assert code == 1 and "MG-L104" in rules(doc)


def _model_sig(key: signing.PrivateKey, files: dict[str, bytes]) -> bytes:
    resources = [{"name": p, "algorithm": "sha256", "digest": hashlib.sha256(d).hexdigest()}
                 for p, d in sorted(files.items())]
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    payload = json.dumps({
        "_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "tiny", "digest": {"sha256": root}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {"serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False},
                      "resources": resources}}).encode()
    sig = signing.sign_pae(key, signing.pae("application/vnd.in-toto+json", payload))
    return json.dumps({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": signing.keyid(key.public_key())}, "tlogEntries": []},
        "dsseEnvelope": {"payload": base64.b64encode(payload).decode(), "payloadType": "application/vnd.in-toto+json",
                         "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}]}}).encode()


def test_model_signature_through_fetch_and_verify(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    key = new_key("ed25519")
    good = publish(fake_hub, "good", "acme/good", {**FILES, "model.sig": _model_sig(key, FILES)})
    swapped = {**FILES, "weights.bin": b"other tensor bytes"}
    bad = publish(fake_hub, "bad", "acme/bad", {**swapped, "model.sig": _model_sig(key, FILES)})
    proj, cache = tmp_path / "proj", tmp_path / "cache"
    proj.mkdir()
    lock, _ = write_project(proj, [good, bad], 'allowed-orgs = ["acme"]\n\n'
                            + signer_entry(key.public_key(), scope="acme"))
    code, doc = fetch(fake_hub, lock, cache, capsys)
    assert code == 1
    status = {m["name"]: m["status"] for m in doc["models"]}
    assert status == {"good": "admitted", "bad": "refused"}
    assert "MG-P515" in rules(doc)
    assert snapshot_dir(cache, "acme/good", good.commit).is_dir()
    assert not snapshot_dir(cache, "acme/bad", bad.commit).exists()


def test_lock_refuses_a_revoked_commit_and_is_audited(fake_hub: FakeHub, tmp_path: Path, capsys) -> None:
    commit = fake_hub.add_repo("acme/tiny", FILES)
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text('[policy]\nallowed-orgs = ["acme"]\n\n[[hf-model]]\nname = "tiny"\nrepo = "acme/tiny"\n')
    lock = tmp_path / "modelguard.lock"
    assert run(["--endpoint", fake_hub.endpoint, "lock", "--manifest", str(manifest)]) == 0
    home = tmp_path / "modelguard-home"
    (event,) = audit_lines(home)
    assert event["command"] == "lock" and event["commit"] == commit and event["outcome"] == "resolved"
    lock.unlink()
    assert run(["revoke", f"acme/tiny@{commit}", "--reason", "INC-9", "--manifest", str(manifest)]) == 0
    capsys.readouterr()
    assert run(["--endpoint", fake_hub.endpoint, "lock", "--manifest", str(manifest)]) == 1
    assert "INC-9" in capsys.readouterr().err and not lock.exists()
