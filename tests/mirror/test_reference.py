"""Mirror locations, OCI repository names and the loopback rule (pure)."""

from __future__ import annotations

import pytest

from modelguard.errors import UsageError
from modelguard.mirror.reference import is_loopback_host, is_tag, location_problem, parse_location, referrers_tag


def test_location_parses_host_port_and_namespace() -> None:
    loc = parse_location("oci://Registry.Example.com:5000/team/models/", plain_http=False)
    assert (loc.host, loc.namespace, loc.base) == ("registry.example.com:5000", "team/models",
                                                   "https://registry.example.com:5000")
    assert loc.repository("acme/Tiny-BERT") == "team/models/acme--tiny-bert"
    expected = f"oci://registry.example.com:5000/team/models/acme--tiny-bert:{'0' * 40}"
    assert loc.reference("acme/tiny-bert", "0" * 40) == expected
    assert parse_location("oci://127.0.0.1:5000", plain_http=True).base == "http://127.0.0.1:5000"
    assert parse_location("oci://127.0.0.1:5000").repository("a/b") == "a--b"


@pytest.mark.parametrize("url", [
    "https://registry/models", "oci://", "oci://user:pw@registry/models", "oci://registry/Models",
    "oci://registry/models?x=1", "oci://reg istry/models", "oci://registry:99999/models", "oci://registry/a//b",
    "oci://registry/-x", "oci://-bad-/x",
])
def test_bad_locations_are_usage_errors(url: str) -> None:
    assert location_problem(url)
    with pytest.raises(UsageError):
        parse_location(url)


def test_hub_names_map_onto_oci_names_or_are_refused() -> None:
    loc = parse_location("oci://r/ns")
    assert loc.repository("Acme/odd_-name.v2") == "ns/acme--odd-name.v2"
    assert loc.repository("acme/a___b._c") == "ns/acme--a-b-c"
    with pytest.raises(UsageError, match="no valid OCI repository name"):
        loc.repository("acme/model.")
    with pytest.raises(UsageError, match="longer than"):
        parse_location("oci://r/" + "/".join(["n" * 60] * 5)).repository("acme/model")


def test_loopback_tags_and_referrers_tag() -> None:
    assert all(is_loopback_host(h) for h in ("localhost", "127.0.0.1:5000", "[::1]:80", "127.9.9.9"))
    assert not any(is_loopback_host(h) for h in ("registry.lan:5000", "10.0.0.1", "[2001:db8::1]", "localhost.evil"))
    assert is_tag("0" * 40) and is_tag("tiny-bert_v1.2") and not is_tag("-x") and not is_tag("a" * 129)
    assert referrers_tag("sha256:" + "ab" * 32) == "sha256-" + "ab" * 32
