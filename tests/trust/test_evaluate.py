"""Policy evaluation over files: every violation is an MG-P finding naming the policy line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from modelguard.scan import scan_bytes
from modelguard.spec.manifest import parse_manifest
from modelguard.spec.types import Policy
from modelguard.trust.evaluate import (
    PICKLE_FAMILY,
    file_findings,
    model_findings,
    safe_globals_for,
    scan_and_evaluate,
    scanner_fingerprint,
)
from tests.cache_helpers import locked_model

CODE = b"class Model:\n    pass\n"
CODE_SHA = hashlib.sha256(CODE).hexdigest()


def policy(body: str) -> Policy:
    text = "[policy]\n" + body + '\n[[hf-model]]\nname = "m"\nrepo = "acme/tiny"\n'
    return parse_manifest(text, source="modelguard.toml").policy


def rules(findings) -> list[str]:
    return sorted(f.rule for f in findings)


def check(p: Policy, tmp_path: Path, rel: str, data: bytes, fmt: str, repo: str = "acme/tiny"):
    """The policy's findings about ``data`` as the flows get them: after the scanner's (it reads auto_map)."""
    scanned = scan_bytes(data, rel).findings
    return file_findings(p, repo, rel, fmt, len(data), hashlib.sha256(data).hexdigest(), scanned)


def test_require_safetensors_refuses_pickle_family_and_names_the_line(tmp_path: Path) -> None:
    p = policy('allowed-orgs = ["acme"]\nrequire-safetensors = true')
    for fmt in ("pickle", "pytorch-zip", "joblib", "gzip"):
        (f,) = check(p, tmp_path, "pytorch_model.bin", b"x", fmt)
        assert f.rule == "MG-P010" and f.location == "modelguard.toml:3"
    assert check(p, tmp_path, "model.safetensors", b"x", "safetensors") == []
    assert check(policy('allowed-orgs = ["acme"]'), tmp_path, "m.bin", b"x", "pickle") == []
    assert {"pickle", "pytorch-legacy", "torchscript"} <= PICKLE_FAMILY


def test_custom_code_is_denied_by_default(tmp_path: Path) -> None:
    p = policy('allowed-orgs = ["acme"]')
    (f,) = check(p, tmp_path, "modeling_x.py", CODE, "python")
    assert f.rule == "MG-P011"
    config = json.dumps({"auto_map": {"AutoModel": "modeling_x.Model"}}).encode()
    (g,) = check(p, tmp_path, "config.json", config, "json")
    assert g.rule == "MG-P011"
    assert check(p, tmp_path, "config.json", b'{"hidden_size": 4}', "json") == []


def test_allow_pinned_needs_a_matching_pin(tmp_path: Path) -> None:
    body = (
        'allowed-orgs = ["acme"]\ntrust-remote-code = "allow-pinned"\n\n'
        '[[policy.remote-code]]\nrepo = "acme/tiny"\n'
        f'files = {{ "modeling_x.py" = "{CODE_SHA}" }}\n'
    )
    p = policy(body)
    assert check(p, tmp_path, "modeling_x.py", CODE, "python") == []
    (changed,) = check(p, tmp_path, "modeling_x.py", CODE + b"import os\n", "python")
    assert changed.rule == "MG-P012" and changed.location == "modelguard.toml:5"
    (unpinned,) = check(p, tmp_path, "other.py", CODE, "python")
    assert unpinned.rule == "MG-P012"
    (other_repo,) = check(p, tmp_path, "modeling_x.py", CODE, "python", repo="acme/other")
    assert other_repo.rule == "MG-P012"
    config = json.dumps({"auto_map": {"AutoModel": ["evil/repo--modeling.Model", None]}}).encode()
    (foreign,) = check(p, tmp_path, "config.json", config, "json")
    assert foreign.rule == "MG-P013" and "modeling.Model from repository evil/repo" in foreign.message
    local = json.dumps({"auto_map": {"AutoModel": "modeling_x.Model"}}).encode()
    assert check(p, tmp_path, "config.json", local, "json") == []


def test_size_and_file_type_limits(tmp_path: Path) -> None:
    p = policy('allowed-orgs = ["acme"]\nmax-file-size = 10\nallowed-file-types = ["safetensors", "json"]')
    found = check(p, tmp_path, "weights.bin", b"x" * 11, "gguf")
    assert rules(found) == ["MG-P014", "MG-P015"]
    assert {f.location for f in found} == {"modelguard.toml:3", "modelguard.toml:4"}
    assert check(p, tmp_path, "model.safetensors", b"x" * 10, "safetensors") == []


def test_safe_globals_are_scoped_to_org_or_repo() -> None:
    def entry(module: str, scope: str) -> str:
        return (f'[[policy.safe-globals]]\nmodule = "{module}"\nname = "C"\nscope = "{scope}"\n'
                'reason = "reviewed"\n')

    p = policy('allowed-orgs = ["*"]\n\n' + entry("everywhere", "*") + entry("org_only", "acme")
               + entry("repo_only", "acme/tiny") + entry("elsewhere", "other"))
    assert safe_globals_for(p, "acme/tiny") == (("everywhere", "C"), ("org_only", "C"), ("repo_only", "C"))
    assert safe_globals_for(p, "acme/big") == (("everywhere", "C"), ("org_only", "C"))
    assert safe_globals_for(p, "other/x") == (("elsewhere", "C"), ("everywhere", "C"))


def test_org_checks_use_the_locked_repo(tmp_path: Path) -> None:
    p = policy('allowed-orgs = ["acme"]\ndenied-orgs = ["evil"]')
    assert model_findings(p, locked_model("m", "acme/tiny", {})) == []
    (denied,) = model_findings(p, locked_model("m", "evil/tiny", {}))
    assert denied.rule == "MG-P002" and denied.model == "m"
    (unknown,) = model_findings(p, locked_model("m", "Acme/tiny", {}))
    assert unknown.rule == "MG-P001"


def test_scan_and_evaluate_combines_scan_and_policy(tmp_path: Path) -> None:
    p = policy('allowed-orgs = ["acme"]\nmax-file-size = 4')
    f = tmp_path / "notes.txt"
    f.write_bytes(b"hello world\n")
    result = scan_and_evaluate(f, policy=p, repo="acme/tiny", rel_path="notes.txt", display="m:notes.txt",
                               size=12, sha256=hashlib.sha256(b"hello world\n").hexdigest())
    assert result.path == "m:notes.txt" and result.format == "text"
    assert rules(result.findings) == ["MG-P014"]


def test_scanner_fingerprint_is_stable_and_versioned() -> None:
    from modelguard import __version__

    assert scanner_fingerprint() == scanner_fingerprint()
    assert scanner_fingerprint().startswith(__version__ + "+")


def test_auto_map_in_a_config_above_4_mib_is_still_refused(tmp_path: Path) -> None:
    """The policy reads auto_map from the scan, so it sees every config the scanner reads (64 MiB), not
    only those under a size of its own: a 5 MiB config.json used to pass trust-remote-code silently."""
    doc = {"auto_map": {"AutoModel": "modeling_x.Model"}, "padding": "x" * (5 << 20)}
    data = json.dumps(doc).encode()
    (refused,) = check(policy('allowed-orgs = ["acme"]'), tmp_path, "config.json", data, "json")
    assert refused.rule == "MG-P011" and "auto_map" in refused.message
    path = tmp_path / "config.json"
    path.write_bytes(data)
    p = policy('allowed-orgs = ["acme"]\nfail-on = "high"')
    result = scan_and_evaluate(path, policy=p, repo="acme/tiny", rel_path="config.json", display="config.json",
                               size=len(data), sha256=hashlib.sha256(data).hexdigest())
    assert {"MG-S311", "MG-P011"} <= {f.rule for f in result.findings}
    assert [f.rule for f in result.findings if f.severity.reaches(p.fail_on)] == ["MG-P011"]


def test_an_auto_map_value_that_is_not_a_reference_is_refused_too(tmp_path: Path) -> None:
    p = policy('allowed-orgs = ["acme"]')
    for auto_map in ({"AutoModel": {"class": "modeling_x.Model"}}, {"AutoModel": 7}, {"AutoModel": [["m.X"]]}):
        data = json.dumps({"auto_map": auto_map}).encode()
        assert [f.rule for f in check(p, tmp_path, "config.json", data, "json")] == ["MG-P011"], auto_map
    for nothing in ({}, {"AutoTokenizer": None}, {"AutoTokenizer": [None, None]}):
        assert check(p, tmp_path, "config.json", json.dumps({"auto_map": nothing}).encode(), "json") == []


def test_hostile_json_does_not_crash_the_policy(tmp_path: Path) -> None:
    p = policy('allowed-orgs = ["acme"]')
    assert check(p, tmp_path, "config.json", b"[" * 200_000, "json") == []
    assert check(p, tmp_path, "config.json", b"\xff\xfe not json", "json") == []
