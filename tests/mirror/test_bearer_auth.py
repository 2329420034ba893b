"""Bearer-token auth (distribution token spec) against the real registry with ``auth: token``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modelguard.mirror.auth import Credentials
from modelguard.mirror.oci import OCI_MANIFEST, RegistryAccessDenied, RegistryClient
from modelguard.mirror.reference import parse_location
from tests.mirror.registry import start_registry
from tests.mirror.tokens import TokenService


def test_bearer_token_flow_against_the_real_registry(tmp_path: Path) -> None:
    with TokenService("bob", "hunter2 hunter2", tmp_path / "tokens") as tokens:
        registry = start_registry(tmp_path / "registry", extra=tokens.registry_config())
        try:
            where = parse_location(registry.url("team"), plain_http=True)
            data = b"weights" * 1000
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            with RegistryClient(where, Credentials("bob", "hunter2 hunter2", "test")) as client:
                client.upload_blob("team/acme--x", digest, data, len(data))
                assert client.blob_size("team/acme--x", digest) == len(data)
                with client.open_blob("team/acme--x", digest) as r:
                    assert r.content == data
                assert client.manifest_digest("team/acme--x", "nothing", OCI_MANIFEST) is None
            asked = [q["query"].get("scope") for q in tokens.requests if q["authorization"]]
            assert ["repository:team/acme--x:pull,push"] in asked and ["repository:team/acme--x:pull"] in asked
            with RegistryClient(where) as anonymous, pytest.raises(RegistryAccessDenied, match="requires a login"):
                anonymous.blob_size("team/acme--x", digest)
            with RegistryClient(where, Credentials("bob", "wrong", "$MODELGUARD_REGISTRY_PASSWORD")) as wrong, \
                    pytest.raises(RegistryAccessDenied, match="refused the credentials from "
                                                              r"\$MODELGUARD_REGISTRY_PASSWORD") as info:
                wrong.blob_size("team/acme--x", digest)
            assert info.value.rule == "MG-H161" and "wrong" not in info.value.message
        finally:
            registry.stop()
