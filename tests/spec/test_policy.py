"""Policy parsing (every key, secure defaults, actionable errors) and the lock-time org check."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelguard.errors import ConfigError
from modelguard.models import Severity
from modelguard.spec.manifest import parse_manifest
from modelguard.spec.policy import DEFAULT_POLICY, check_org, load_policy_file, policy_sha256
from modelguard.spec.types import HFModelSpec, Policy

KEYID = "ab" * 32
PEM = "-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA\\n-----END PUBLIC KEY-----\\n"

ALL_KEYS = f"""\
[policy]
allowed-orgs = ["google", "mistralai"]
denied-orgs = ["evil-corp"]
require-safetensors = true
trust-remote-code = "allow-pinned"
allowed-file-types = ["safetensors", "json"]
max-file-size = "10GB"
fail-on = "low"
allow-floating-aliases = true
deprecation-window-days = 30
require-signature = true

[[policy.remote-code]]
repo = "org/model"
files = {{ "modeling_x.py" = "{'1' * 64}" }}

[[policy.safe-globals]]
module = "collections"
name = "OrderedDict"
scope = "google"
reason = "plain container"

[[policy.suppress]]
rule = "MG-P001"
scope = "google/gemma-2b"
reason = "accepted by security review SR-12"
expires = 2027-01-31

[[policy.signers]]
keyid = "{KEYID}"
algorithm = "ed25519"
public-key = "{PEM}"

[[policy.revoked]]
target = "google/gemma-2b@{'c' * 40}"
reason = "backdoored weights (incident 7)"
date = "2026-11-01"
"""


def _policy(text: str) -> Policy:
    return parse_manifest(text, source="m.toml").policy


def test_every_key_is_parsed() -> None:
    p = _policy(ALL_KEYS)
    assert p.allowed_orgs == ("google", "mistralai")
    assert p.denied_orgs == ("evil-corp",)
    assert p.require_safetensors and p.require_signature and p.allow_floating_aliases
    assert p.trust_remote_code == "allow-pinned"
    assert p.allowed_file_types == ("safetensors", "json")
    assert p.max_file_size == 10 * 10**9
    assert p.fail_on is Severity.LOW
    assert p.deprecation_window_days == 30
    (pin,) = p.remote_code
    assert (pin.repo, pin.files, pin.line) == ("org/model", (("modeling_x.py", "1" * 64),), 13)
    (sg,) = p.safe_globals
    assert (sg.module, sg.name, sg.scope, sg.reason, sg.line) == (
        "collections", "OrderedDict", "google", "plain container", 17)
    (sup,) = p.suppressions
    assert (sup.rule, sup.scope, sup.expires, sup.line) == ("MG-P001", "google/gemma-2b", "2027-01-31", 23)
    (signer,) = p.signers
    assert (signer.keyid, signer.algorithm, signer.scope) == (KEYID, "ed25519", "lockfile")
    assert signer.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    (rev,) = p.revoked
    assert (rev.target, rev.date, rev.line) == ("google/gemma-2b@" + "c" * 40, "2026-11-01", 34)
    assert p.line_of("fail-on") == 8 and p.line_of("denied-orgs") == 3
    assert p.sha256 == policy_sha256(p)


def test_defaults_are_the_secure_ones() -> None:
    p = _policy("")
    assert p == DEFAULT_POLICY
    assert p.allowed_orgs == () and p.trust_remote_code == "deny" and p.fail_on is Severity.MEDIUM
    assert p.max_file_size is None and not p.allow_floating_aliases


@pytest.mark.parametrize(
    ("value", "size"),
    [("1000", 1000), ('"10GB"', 10**10), ('"9.5 GiB"', int(9.5 * 2**30)), ('"512mb"', 512 * 10**6),
     ('"7 B"', 7), ('"2TiB"', 2 * 2**40)],
)
def test_max_file_size_forms(value: str, size: int) -> None:
    assert _policy(f"[policy]\nmax-file-size = {value}\n").max_file_size == size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[policy]\ntrust-remote-code = "yes"\n', "m.toml:2: policy.trust-remote-code: must be one of"),
        ('[policy]\nfail-on = "severe"\n', "unknown severity 'severe'"),
        ('[policy]\nallowed-org = ["google"]\n', "did you mean 'allowed-orgs'?"),
        ('[policy]\nallowed-orgs = ["*", "google"]\n', "write it alone"),
        ('[policy]\ndenied-orgs = ["*"]\n', "list the orgs to deny"),
        ('[policy]\nallowed-orgs = ["goo gle"]\n', "not a Hub organisation name"),
        ('[policy]\nallowed-orgs = "google"\n', "must be an array of strings"),
        ('[policy]\nrequire-safetensors = "yes"\n', "must be true or false"),
        ('[policy]\nmax-file-size = "ten gigs"\n', "max-file-size"),
        ('[policy]\nmax-file-size = 0\n', "positive"),
        ('[policy]\ndeprecation-window-days = -1\n', "at least 0"),
        ('[policy]\nallowed-file-types = ["safetensor"]\n', "did you mean 'safetensors'?"),
        ('[[policy.remote-code]]\nrepo = "o/m"\nfiles = { "x.py" = "abc" }\n', "SHA-256"),
        ('[[policy.remote-code]]\nrepo = "o/m"\nfiles = { "../x.py" = "' + "1" * 64 + '" }\n', "'..'"),
        ('[[policy.remote-code]]\nrepo = "om"\nfiles = { "x.py" = "' + "1" * 64 + '" }\n', "org/name"),
        ('[policy.remote-code]\nrepo = "o/m"\n', "write [[policy.remote-code]]"),
        ('[[policy.safe-globals]]\nmodule = "a"\nname = "b"\nscope = "*"\n', "missing required key 'reason'"),
        ('[[policy.safe-globals]]\nmodule = "a"\nname = "b"\nscope = "*"\nreason = " "\n', "must not be empty"),
        ('[[policy.safe-globals]]\nmodule = "a"\nname = "b"\nreason = "r"\n', "missing required key 'scope'"),
        ('[[policy.suppress]]\nrule = "MG-P001"\nscope = "*"\nreason = "r"\n', "missing required key 'expires'"),
        ('[[policy.suppress]]\nrule = "MG-P001"\nscope = "*"\nexpires = 2027-01-01\n', "'reason'"),
        ('[[policy.suppress]]\nrule = "MG-P01"\nscope = "*"\nreason = "r"\nexpires = 2027-01-01\n',
         "unknown rule 'MG-P01'"),
        ('[[policy.suppress]]\nrule = "MG-P001"\nscope = "*"\nreason = "r"\nexpires = "soon"\n', "must be a date"),
        ('[[policy.signers]]\nkeyid = "xyz"\nalgorithm = "ed25519"\npublic-key = "' + PEM + '"\n', "keyid"),
        ('[[policy.signers]]\nkeyid = "' + KEYID + '"\nalgorithm = "rsa"\npublic-key = "' + PEM + '"\n',
         "'ed25519', 'ecdsa-p256'"),
        ('[[policy.signers]]\nkeyid = "' + KEYID + '"\nalgorithm = "ed25519"\npublic-key = "abc"\n', "PEM"),
        ('[[policy.revoked]]\ntarget = "google/gemma@main"\nreason = "r"\ndate = 2026-01-01\n', "40-hex"),
        ('[[policy.revoked]]\ntarget = "sha256:' + "A" * 64 + '"\nreason = "r"\ndate = 2026-01-01\n', "64-hex"),
    ],
)
def test_invalid_policy_is_a_config_error(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as e:
        _policy(text)
    assert expected in e.value.message
    assert e.value.message.startswith("m.toml:")


def test_revocation_by_blob_hash_is_accepted() -> None:
    p = _policy('[[policy.revoked]]\ntarget = "sha256:' + "a" * 64 + '"\nreason = "r"\ndate = 2026-01-01\n')
    assert p.revoked[0].target == "sha256:" + "a" * 64


def test_hash_ignores_set_order_and_lines_but_not_values() -> None:
    base = _policy(ALL_KEYS).sha256
    assert _policy(ALL_KEYS.replace('["google", "mistralai"]', '["mistralai", "google"]')).sha256 == base
    assert _policy("\n\n# moved\n" + ALL_KEYS).sha256 == base
    assert _policy(ALL_KEYS.replace('"mistralai"]', '"meta-llama"]')).sha256 != base
    assert _policy(ALL_KEYS.replace("2027-01-31", "2027-02-01")).sha256 != base
    assert _policy(ALL_KEYS.replace("incident 7", "incident 8")).sha256 != base


def test_policy_file_top_level_or_under_policy(tmp_path: Path) -> None:
    top = tmp_path / "a.toml"
    top.write_text('allowed-orgs = ["google"]\n')
    nested = tmp_path / "b.toml"
    nested.write_text('[policy]\nallowed-orgs = ["google"]\n')
    assert load_policy_file(str(top)).sha256 == load_policy_file(str(nested)).sha256
    bad = tmp_path / "c.toml"
    bad.write_text('\nallowed-orgz = ["google"]\n')
    with pytest.raises(ConfigError, match=r"c\.toml:2: allowed-orgz: unknown key; did you mean 'allowed-orgs'"):
        load_policy_file(str(bad))


def _spec(repo: str) -> HFModelSpec:
    return HFModelSpec(name="m", repo=repo, line=7)


def test_org_absent_from_empty_allowlist_is_refused() -> None:
    f = check_org(DEFAULT_POLICY, _spec("google/gemma-2b"), manifest_path="modelguard.toml")
    assert f is not None and f.rule == "MG-P001"
    assert f.location == "modelguard.toml:7" and f.model == "m"
    assert "no org is allowed until listed" in f.message


def test_org_check_is_exact_and_case_sensitive() -> None:
    p = _policy('[policy]\nallowed-orgs = ["google"]\n')
    assert check_org(p, _spec("google/gemma-2b")) is None
    for repo in ("Google/gemma-2b", "googIe/gemma-2b", "google-x/gemma"):
        f = check_org(p, _spec(repo))
        assert f is not None and f.rule == "MG-P001", repo
    f = check_org(p, _spec("Google/gemma-2b"))
    assert f is not None and "look-alike" in f.message and "'google'" in f.message


def test_star_allows_every_org_but_denied_still_wins() -> None:
    p = _policy('[policy]\nallowed-orgs = ["*"]\ndenied-orgs = ["evil"]\n')
    assert check_org(p, _spec("anyone/model")) is None
    f = check_org(p, _spec("evil/model"), manifest_path="mg.toml")
    assert f is not None and f.rule == "MG-P002" and f.location == "mg.toml:7"
    assert "denied-orgs" in f.message and "remove the model" in f.message
