"""Publish once, fetch everywhere: against the real CNCF distribution registry (docker-registry 2.8).

A publisher locks and fetches from the loopback fake Hub and pushes; a second machine with no Hub
(``--no-hub`` / ``fallback = "none"``) fetches from the registry, admits and verifies, and the
fake Hub sees no request. Every rejection test checks the rule, the exit code and that nothing was
admitted.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from modelguard.mirror.oci import OCI_MANIFEST, RegistryClient
from modelguard.mirror.reference import parse_location
from tests.fakehub import FakeHub
from tests.mirror.project import FILES, OTHER, Machine, cache_files, publisher, safetensors
from tests.mirror.registry import RedirectingFront, Registry


def _published(fake_hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str],
               to: str) -> Machine:
    pub, _ = publisher(fake_hub, tmp_path / "publisher", {"tiny": ("acme/tiny-bert", FILES)})
    code, doc, err = pub.fetch(capsys, endpoint=fake_hub.endpoint)
    assert code == 0, (doc, err)
    code, doc, err = pub.push(capsys, to)
    assert code == 0, (doc, err)
    return pub


def test_publish_once_fetch_everywhere_without_the_hub(fake_hub: FakeHub, registry: Registry, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    pub = _published(fake_hub, tmp_path, capsys, registry.url())
    node = pub.copy_to(tmp_path / "node")
    node.add_mirror(registry.url(), fallback="none")
    fake_hub.clear_requests()
    code, doc, err = node.fetch(capsys, endpoint=fake_hub.endpoint)
    assert code == 0, (doc, err)
    assert [m["status"] for m in doc["models"]] == ["admitted"]
    assert fake_hub.requests == []  # air-gapped: not one request reached the Hub
    assert node.verify(capsys) == 0
    snapshot = next((node.cache / "hub/models--acme--tiny-bert/snapshots").iterdir())
    assert (snapshot / "sub/vocab.txt").read_bytes() == FILES["sub/vocab.txt"]
    # The CLI flags do the same without a [mirror] table.
    other = pub.copy_to(tmp_path / "node2")
    code, doc, err = other.fetch(capsys, "--mirror", registry.url(), "--plain-http", "--no-hub",
                                 endpoint=fake_hub.endpoint)
    assert code == 0 and fake_hub.requests == [], (doc, err)


def test_pushed_artifact_is_modelpack_tagged_by_commit_and_name(fake_hub: FakeHub, registry: Registry,
                                                                  tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    pub = _published(fake_hub, tmp_path, capsys, registry.url())
    commit = json.loads(pub.cli(capsys, "push", "--to", registry.url(), "--plain-http", "--lockfile",
                                str(pub.lock), "--cache-dir", str(pub.cache), "--format", "json")[1]
                        )["models"][0]["commit"]
    with RegistryClient(parse_location(registry.url(), plain_http=True)) as client:
        body, digest = client.get_manifest("models/acme--tiny-bert", commit, OCI_MANIFEST) or (b"", "")
        assert client.manifest_digest("models/acme--tiny-bert", "tiny", OCI_MANIFEST) == digest
        manifest = json.loads(body)
        assert manifest["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
        assert manifest["config"]["mediaType"] == "application/vnd.cncf.model.config.v1+json"
        layers = {la["annotations"]["org.cncf.model.filepath"]: la for la in manifest["layers"]}
        assert set(layers) == set(FILES)
        assert layers["model.safetensors"]["mediaType"] == "application/vnd.cncf.model.weight.v1.raw"
        assert layers["config.json"]["mediaType"] == "application/vnd.cncf.model.weight.config.v1.raw"
        weights = FILES["model.safetensors"]
        assert layers["model.safetensors"]["digest"] == "sha256:" + hashlib.sha256(weights).hexdigest()
        assert manifest["annotations"]["dev.modelguard.hub.repo"] == "acme/tiny-bert"
        assert manifest["annotations"]["dev.modelguard.hub.commit"] == commit
        assert manifest["annotations"]["dev.modelguard.lock.entries"] == "tiny"
        # The admission facts hang off the manifest: distribution 2.8 has no referrers API, so the
        # tag schema (sha256-<hex>) lists them.
        referrers = client.referrers("models/acme--tiny-bert", digest)
        assert [r["artifactType"] for r in referrers] == ["application/vnd.modelguard.admission.v1+json"]
        facts_manifest = json.loads(client.get_manifest("models/acme--tiny-bert", referrers[0]["digest"],
                                                        OCI_MANIFEST)[0])  # type: ignore[index]
        assert facts_manifest["subject"]["digest"] == digest
        with client.open_blob("models/acme--tiny-bert", facts_manifest["layers"][0]["digest"]) as r:
            facts = json.loads(r.content)
        assert facts["commit"] == commit and {f["path"] for f in facts["files"]} == set(FILES)
        assert all(f["verdict"] == "clean" for f in facts["files"])


def test_second_push_uploads_nothing(fake_hub: FakeHub, registry: Registry, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    with RedirectingFront(registry.host) as front:
        url = f"oci://{front.host}/models"
        pub = _published(fake_hub, tmp_path, capsys, url)
        writes = [s for s in front.of("front") if s.method in ("POST", "PUT", "PATCH")]
        assert writes  # the first push did upload
        front.seen.clear()
        code, doc, err = pub.push(capsys, url)
        assert code == 0, (doc, err)
        model = doc["models"][0]
        assert model["status"] == "up-to-date" and model["uploaded"] == 0 and model["mounted"] == 0
        assert [s for s in front.of("front") if s.method not in ("HEAD", "GET")] == []


@pytest.mark.parametrize("fallback", ["none", "hub"])
def test_blob_altered_in_registry_storage_is_refused(fake_hub: FakeHub, registry: Registry, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str], fallback: str) -> None:
    pub = _published(fake_hub, tmp_path, capsys, registry.url())
    blob = registry.blob_file("sha256:" + hashlib.sha256(FILES["model.safetensors"]).hexdigest())
    data = bytearray(blob.read_bytes())
    data[100] ^= 0x01  # same size, one bit: only the hash can tell
    blob.write_bytes(bytes(data))
    node = pub.copy_to(tmp_path / "node")
    node.add_mirror(registry.url(), fallback=fallback)
    code, doc, err = node.fetch(capsys, endpoint=fake_hub.endpoint)
    assert code == 1, (doc, err)
    # Refused, never quietly replaced by the Hub's copy: a mirror serving other bytes is an incident.
    assert doc["models"][0]["status"] == "refused"
    rules = {f["rule"] for f in doc["findings"]}  # every finding, files' and models'
    assert "MG-H001" in rules
    assert cache_files(node.cache) == []  # nothing admitted
    assert not any((node.cache / "quarantine").iterdir())


def test_blob_missing_refuses_without_hub_and_falls_back_with_it(fake_hub: FakeHub, registry: Registry,
                                                                 tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    pub, _ = publisher(fake_hub, tmp_path / "publisher", {"tiny": ("acme/tiny-bert", FILES),
                                                         "other": ("acme/other", OTHER)})
    assert pub.fetch(capsys, endpoint=fake_hub.endpoint)[0] == 0
    assert pub.push(capsys, registry.url(), "tiny")[0] == 0  # "other" is never published
    node = pub.copy_to(tmp_path / "node")
    node.add_mirror(registry.url(), fallback="none")
    fake_hub.clear_requests()
    code, doc, err = node.fetch(capsys, endpoint=fake_hub.endpoint)
    assert code == 3, (doc, err)
    status = {m["name"]: m["status"] for m in doc["models"]}
    assert status == {"tiny": "admitted", "other": "no-verdict"}
    assert "MG-H160" in {f["rule"] for f in doc["findings"]}  # every finding, files' and models'
    assert fake_hub.requests == []
    assert not (node.cache / "hub/models--acme--other").exists()

    hub_node = pub.copy_to(tmp_path / "hub-node")
    hub_node.add_mirror(registry.url(), fallback="hub")
    code, doc, err = hub_node.fetch(capsys, endpoint=fake_hub.endpoint)
    assert code == 0, (doc, err)
    assert {m["status"] for m in doc["models"]} == {"admitted"}
    assert "MG-H164" in {f["rule"] for f in doc["findings"] if f.get("model") == "other"}
    assert all("acme/tiny-bert" not in r.path for r in fake_hub.requests)  # tiny came from the mirror only


def test_blob_downloads_redirect_to_a_store_that_never_sees_credentials(
        fake_hub: FakeHub, auth_registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    with RedirectingFront(auth_registry.host) as front:
        url = f"oci://{front.host}/models"
        _docker_login(tmp_path, monkeypatch, front.host)
        pub = _published(fake_hub, tmp_path, capsys, url)
        node = pub.copy_to(tmp_path / "node")
        front.seen.clear()
        code, doc, err = node.fetch(capsys, "--mirror", url, "--plain-http", "--no-hub", endpoint=fake_hub.endpoint)
        assert code == 0, (doc, err)
        store = front.of("store")
        assert store and not any(s.authorization for s in store)
        assert any(s.authorization for s in front.of("front"))  # the registry itself did get them


def test_cut_transfer_resumes_with_range(fake_hub: FakeHub, registry: Registry, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    big = {"model.safetensors": safetensors(400_000), "config.json": b"{}"}  # 1.6 MB: cut past the first 1 MiB read
    with RedirectingFront(registry.host) as front:
        url = f"oci://{front.host}/models"
        pub, _ = publisher(fake_hub, tmp_path / "publisher", {"big": ("acme/big", big)})
        assert pub.fetch(capsys, endpoint=fake_hub.endpoint)[0] == 0
        assert pub.push(capsys, url)[0] == 0
        node = pub.copy_to(tmp_path / "node")
        front.seen.clear()
        front.cut_after = 1_200_000
        code, doc, err = node.fetch(capsys, "--mirror", url, "--plain-http", "--no-hub", endpoint=fake_hub.endpoint)
        assert code == 0, (doc, err)
        # Every byte before the cut was kept (and hashed); only the rest was asked for again.
        assert "bytes=1200000-" in [s.range for s in front.of("store")]
        assert node.verify(capsys) == 0


def _docker_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str,
                  password: str = "correct horse battery") -> None:
    import base64

    folder = tmp_path / "docker-config"
    folder.mkdir(exist_ok=True)
    auth = base64.b64encode(f"alice:{password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {f"http://{host}": {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))


def test_registry_needing_auth_works_with_docker_config_and_refuses_without(
        fake_hub: FakeHub, auth_registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    url = auth_registry.url()
    pub, _ = publisher(fake_hub, tmp_path / "publisher", {"tiny": ("acme/tiny-bert", FILES)})
    assert pub.fetch(capsys, endpoint=fake_hub.endpoint)[0] == 0
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty-docker-config"))
    code, doc, err = pub.push(capsys, url)
    assert code == 3, (doc, err)
    assert doc["models"][0]["status"] == "no-verdict" and "requires a login" in doc["models"][0]["reason"]

    _docker_login(tmp_path, monkeypatch, auth_registry.host)
    code, doc, err = pub.push(capsys, url)
    assert code == 0, (doc, err)

    node = pub.copy_to(tmp_path / "node")
    node.add_mirror(url)
    assert node.fetch(capsys, endpoint=fake_hub.endpoint)[0] == 0

    bare = pub.copy_to(tmp_path / "bare")
    bare.add_mirror(url)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty-docker-config"))
    code, out, err = bare.cli(capsys, "fetch", "--lockfile", str(bare.lock), "--cache-dir", str(bare.cache),
                              endpoint=fake_hub.endpoint)
    assert code == 3
    assert "MG-H161" in out and "requires a login" in out and "docker login" in out
    assert cache_files(bare.cache) == []

    _docker_login(tmp_path, monkeypatch, auth_registry.host, password="wrong password")
    code, doc, err = bare.fetch(capsys, endpoint=fake_hub.endpoint)
    assert code == 3 and "refused the credentials" in json.dumps(doc)
    assert "wrong password" not in json.dumps(doc) + err and cache_files(bare.cache) == []


def test_push_refuses_what_is_not_admitted_or_not_intact(fake_hub: FakeHub, registry: Registry, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    pub, _ = publisher(fake_hub, tmp_path / "publisher", {"tiny": ("acme/tiny-bert", FILES)})
    code, doc, err = pub.push(capsys, registry.url())
    assert code == 2 and "no verified cache" in err  # a mistyped --cache-dir is never an empty cache
    pub.cache.mkdir()
    code, doc, err = pub.push(capsys, registry.url())
    assert code == 1 and doc["models"][0]["status"] == "refused" and "not admitted" in doc["models"][0]["reason"]
    assert pub.fetch(capsys, endpoint=fake_hub.endpoint)[0] == 0
    blob = next((pub.cache / "hub/models--acme--tiny-bert/blobs").glob("*"), None)
    for b in (pub.cache / "hub/models--acme--tiny-bert/blobs").iterdir():
        if b.stat().st_size == len(FILES["model.safetensors"]):
            blob = b
    assert blob is not None
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[0] ^= 1
    blob.write_bytes(bytes(data))
    code, doc, err = pub.push(capsys, registry.url())
    assert code == 1 and "no longer matches the lock" in doc["models"][0]["reason"]
    with RegistryClient(parse_location(registry.url(), plain_http=True)) as client:
        assert client.manifest_digest("models/acme--tiny-bert", doc["models"][0]["commit"], OCI_MANIFEST) is None


def test_lock_signature_is_attached_and_referrers_api_is_used_when_present(
        fake_hub: FakeHub, registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pub, _ = publisher(fake_hub, tmp_path / "publisher", {"tiny": ("acme/tiny-bert", FILES)})
    assert pub.fetch(capsys, endpoint=fake_hub.endpoint)[0] == 0
    envelope = b'{"payloadType":"application/vnd.modelguard.lockfile+toml","payload":"","signatures":[]}'
    (pub.folder / "modelguard.lock.sig").write_bytes(envelope)
    code, doc, err = pub.push(capsys, registry.url())
    assert code == 0, (doc, err)
    repository = "models/acme--tiny-bert"
    with RegistryClient(parse_location(registry.url(), plain_http=True)) as client:
        digest = client.manifest_digest(repository, doc["models"][0]["commit"], OCI_MANIFEST)
        assert digest is not None
        found = {r["artifactType"]: r for r in client.referrers(repository, digest)}
        assert set(found) == {"application/vnd.modelguard.admission.v1+json",
                              "application/vnd.modelguard.lock-signature.v1+json"}
        signed = json.loads(client.get_manifest(repository, found["application/vnd.modelguard.lock-signature.v1+json"]
                                                ["digest"], OCI_MANIFEST)[0])  # type: ignore[index]
        assert [la["digest"] for la in signed["layers"]] == [
            "sha256:" + hashlib.sha256(pub.lock.read_bytes()).hexdigest(),
            "sha256:" + hashlib.sha256(envelope).hexdigest()]
    api_answer = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                  "manifests": [{"mediaType": OCI_MANIFEST, "digest": "sha256:" + "c" * 64, "size": 10,
                                 "artifactType": "application/example"}]}
    with RedirectingFront(registry.host, referrers_api={digest: json.dumps(api_answer).encode()}) as front, \
            RegistryClient(parse_location(f"oci://{front.host}/models", plain_http=True)) as client:
        assert client.referrers(repository, digest) == api_answer["manifests"]
        assert not any("sha256-" in s.path for s in front.of("front"))  # the tag schema was not needed


def test_shared_blobs_are_mounted_and_oci_subject_skips_the_tag_schema(
        fake_hub: FakeHub, registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shared = {"model.safetensors": FILES["model.safetensors"], "config.json": b'{"shared": true}\n'}
    twin = {"model.safetensors": OTHER["model.safetensors"], "config.json": b'{"shared": true}\n'}
    pub, _ = publisher(fake_hub, tmp_path / "publisher", {"a": ("acme/one", shared), "b": ("acme/two", twin)})
    assert pub.fetch(capsys, endpoint=fake_hub.endpoint)[0] == 0
    with RedirectingFront(registry.host, subject_header=True) as front:
        code, doc, err = pub.push(capsys, f"oci://{front.host}/models")
        assert code == 0, (doc, err)
        pushed = {m["repo"]: m for m in doc["models"]}
        # The second repository links the config blob the first one holds: no bytes move.
        assert pushed["acme/two"]["mounted"] >= 1
        assert any(s.method == "POST" and "mount=" in s.path for s in front.of("front"))
        # A registry that indexes referrers itself (OCI-Subject) needs no sha256-<hex> tag.
        assert not any(s.method == "PUT" and "/manifests/sha256-" in s.path for s in front.of("front"))


def test_ci_env_credentials_and_credential_helpers_reach_an_auth_registry(
        fake_hub: FakeHub, auth_registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty-docker-config"))
    monkeypatch.setenv("MODELGUARD_REGISTRY_USERNAME", "alice")
    monkeypatch.setenv("MODELGUARD_REGISTRY_PASSWORD", "correct horse battery")
    pub = _published(fake_hub, tmp_path, capsys, auth_registry.url())  # CI: the env pair
    monkeypatch.delenv("MODELGUARD_REGISTRY_USERNAME")
    monkeypatch.delenv("MODELGUARD_REGISTRY_PASSWORD")
    # A workstation: `docker login` through a credential helper (a real program on PATH).
    helper = tmp_path / "bin" / "docker-credential-vault"
    helper.parent.mkdir()
    helper.write_text('#!/bin/sh\nread server\necho "{\\"ServerURL\\":\\"$server\\",\\"Username\\":\\"alice\\",'
                      '\\"Secret\\":\\"correct horse battery\\"}"\n')
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{helper.parent}{os.pathsep}{os.environ['PATH']}")
    config = tmp_path / "helper-docker-config"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"credHelpers": {auth_registry.host: "vault"}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    node = pub.copy_to(tmp_path / "node")
    node.add_mirror(auth_registry.url())
    code, doc, err = node.fetch(capsys, endpoint=fake_hub.endpoint)
    assert code == 0, (doc, err)
    assert "correct horse" not in json.dumps(doc) + err


def test_an_admitted_model_needs_no_registry(fake_hub: FakeHub, registry: Registry, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with RedirectingFront(registry.host) as front:
        url = f"oci://{front.host}/models"
        pub = _published(fake_hub, tmp_path, capsys, url)
        node = pub.copy_to(tmp_path / "node")
        node.add_mirror(url)
        assert node.fetch(capsys, endpoint=fake_hub.endpoint)[0] == 0
        front.seen.clear()
        fake_hub.clear_requests()
        code, doc, err = node.fetch(capsys, endpoint=fake_hub.endpoint)
        assert code == 0 and doc["models"][0]["status"] == "already-admitted", (doc, err)
        assert front.seen == [] and fake_hub.requests == []
