"""Policy evaluation over files: every violation is an MG-P finding naming the policy line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

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
    path = tmp_path / rel.replace("/", "_")
    path.write_bytes(data)
    return file_findings(p, repo, rel, path, fmt, len(data), hashlib.sha256(data).hexdigest())


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
    assert foreign.rule == "MG-P013" and "evil/repo--modeling.Model" in foreign.message
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


def test_hostile_json_does_not_crash_the_policy(tmp_path: Path) -> None:
    p = policy('allowed-orgs = ["acme"]')
    assert check(p, tmp_path, "config.json", b"[" * 200_000, "json") == []
    assert check(p, tmp_path, "config.json", b"\xff\xfe not json", "json") == []
