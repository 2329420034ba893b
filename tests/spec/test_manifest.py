"""modelguard.toml parsing: typed entries with lines, actionable errors (exit 2), canonical hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.errors import ConfigError, ExitCode
from modelguard.models import Severity
from modelguard.spec.manifest import load_manifest, parse_manifest, selects
from modelguard.spec.types import HFModelSpec

FULL = """\
# the team's models
[policy]
allowed-orgs = ["sentence-transformers", "google"]
fail-on = "high"

[[hf-model]]
name = "embedder"
repo = "sentence-transformers/all-MiniLM-L6-v2"
include = ["*.safetensors", "*.json"]
exclude = ["onnx/"]

[[hf-model]]
name = "gemma"
repo = "google/gemma-2b"
revision = "v1.0"

[[provider-model]]
name = "chat"
provider = "openai"
model = "gpt-4o"
"""


def test_full_manifest_is_typed_with_lines_and_defaults() -> None:
    m = parse_manifest(FULL, source="m.toml")
    embedder, gemma = m.hf_models
    assert embedder == HFModelSpec(
        name="embedder", repo="sentence-transformers/all-MiniLM-L6-v2", revision="main",
        include=("*.safetensors", "*.json"), exclude=("onnx/",), line=6,
    )
    assert (gemma.revision, gemma.line, gemma.org) == ("v1.0", 12, "google")
    (chat,) = m.provider_models
    assert (chat.name, chat.provider, chat.model, chat.platform, chat.line) == ("chat", "openai", "gpt-4o", "api", 17)
    assert m.policy.fail_on is Severity.HIGH
    assert m.policy.line_of("allowed-orgs") == 3
    assert len(m.sha256) == 64


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as e:
        parse_manifest(text, source="m.toml")
    assert e.value.exit_code == ExitCode.USAGE
    return e.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[hf-model]]\nname = "a"\nrepo = "o/m"\nrevison = "main"\n', ["m.toml:4", "revison", "'revision'"]),
        ('[[hf-model]]\nname = "a"\nrepo = "o/m"\nincludes = ["*"]\n', ["m.toml:4", "'include'"]),
        ('[[hf-modell]]\nname = "a"\n', ["m.toml:1", "'hf-model'"]),
        ('[[provider-model]]\nname = "a"\nprovider = "openai"\nmodle = "x"\n', ["m.toml:4", "'model'"]),
    ],
)
def test_unknown_key_names_line_and_nearest_key(text: str, expected: list[str]) -> None:
    message = _error(text)
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    "repo",
    ["noslash", "a/b/c", "a--b/c", "a/b..c", "-a/b", "a/b-", "a/b.git", "a b/c", "a/" + "x" * 97, "x" * 97 + "/a",
     "/b", "a/", "a/b.", "a./b", "tiny/x\\n"],
)
def test_bad_repo_id_is_refused(repo: str) -> None:
    message = _error(f'[[hf-model]]\nname = "a"\nrepo = "{repo}"\n')
    assert "m.toml:3" in message and "repo" in message


@pytest.mark.parametrize("glob", ["", "/onnx/*", "a\\\\b", "[abc", "../x", "a/../b", "[a[b]"])
def test_bad_glob_is_refused(glob: str) -> None:
    message = _error(f'[[hf-model]]\nname = "a"\nrepo = "o/m"\nexclude = ["{glob}"]\n')
    assert "m.toml:4" in message and "glob" in message


def test_duplicate_name_across_kinds_names_both_lines() -> None:
    message = _error('[[hf-model]]\nname = "x"\nrepo = "o/m"\n\n[[provider-model]]\nname = "x"\n'
                     'provider = "openai"\nmodel = "gpt-4o"\n')
    assert "m.toml:5" in message and "line 1" in message and "duplicate name 'x'" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[hf-model]]\nname = "a"\n', "missing required key 'repo'"),
        ('[[hf-model]]\nrepo = "o/m"\n', "missing required key 'name'"),
        ('[[hf-model]]\nname = "a"\nrepo = "o/m"\nrevision = 3\n', "must be a string, not an integer"),
        ('[[hf-model]]\nname = "a"\nrepo = "o/m"\ninclude = "*.json"\n', "must be an array of strings"),
        ('[hf-model]\nname = "a"\n', "write [[hf-model]]"),
        ('[[hf-model]]\nname = "a b"\nrepo = "o/m"\n', "'a b'"),
        ('[[hf-model]]\nname = "a"\nrepo = "o/m"\nrevision = "A' + "0" * 39 + '"\n', "lowercase"),
        ('[[hf-model]]\nname = "a"\nrepo = "o/m"\nrevision = "x..y"\n', "'..'"),
        ('[policy]\nfail-on = "low"\n', ""),
    ],
)
def test_missing_key_and_wrong_type(text: str, expected: str) -> None:
    if not expected:
        parse_manifest(text, source="m.toml")
        return
    assert expected in _error(text)


def test_invalid_toml_names_the_line() -> None:
    message = _error('[[hf-model]]\nname = "a"\nrepo = \n')
    assert message.startswith("m.toml:3: invalid TOML")


def test_missing_manifest_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_manifest(str(tmp_path / "modelguard.toml"))


def test_hash_ignores_comments_whitespace_and_order_but_not_meaning() -> None:
    base = parse_manifest(FULL).sha256
    reordered = FULL.split("[[hf-model]]")
    shuffled = reordered[0] + "[[hf-model]]" + reordered[2].split("[[provider")[0] + "[[hf-model]]" + reordered[1] \
        + "[[provider" + reordered[2].split("[[provider")[1]
    assert parse_manifest(shuffled).sha256 == base
    assert parse_manifest("# hello\n\n" + FULL.replace(" = ", "   =   ") + "\n# bye\n").sha256 == base
    assert parse_manifest(FULL, source="elsewhere/m.toml").sha256 == base
    for before, after in [('revision = "v1.0"', 'revision = "v1.1"'), ('"*.json"]', '"*.txt"]'),
                          ('model = "gpt-4o"', 'model = "gpt-4o-mini"')]:
        assert before in FULL
        assert parse_manifest(FULL.replace(before, after)).sha256 != base, after
    # The policy has its own hash; it is evaluated live and does not make the lock stale.
    edited = parse_manifest(FULL.replace('fail-on = "high"', 'fail-on = "low"'))
    assert edited.sha256 == base
    assert edited.policy.sha256 != parse_manifest(FULL).policy.sha256


def test_policy_file_is_relative_to_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "org").mkdir()
    (tmp_path / "org" / "policy.toml").write_text('allowed-orgs = ["google"]\n')
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text('policy-file = "org/policy.toml"\n')
    m = load_manifest(str(manifest))
    assert m.policy.allowed_orgs == ("google",)
    assert m.policy.source.endswith("policy.toml")
    (tmp_path / "org" / "policy.toml").write_text('allowed-orgs = ["google", "mistralai"]\n')
    assert load_manifest(str(manifest)).policy.sha256 != m.policy.sha256


def test_policy_file_and_inline_policy_conflict(tmp_path: Path) -> None:
    assert "either [policy] or policy-file" in _error('policy-file = "p.toml"\n[policy]\nfail-on = "low"\n')
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text('policy-file = "missing.toml"\n')
    with pytest.raises(ConfigError, match=r"missing\.toml: file not found"):
        load_manifest(str(manifest))


@pytest.mark.parametrize(
    ("include", "exclude", "path", "kept"),
    [
        ((), (), "anything/at/all.bin", True),
        (("*.json",), (), "config.json", True),
        (("*.json",), (), "sub/config.json", True),  # '*' crosses '/' (huggingface_hub semantics)
        (("*.json",), (), "model.safetensors", False),
        (("*.JSON",), (), "config.json", False),  # case-sensitive
        ((), ("onnx/",), "onnx/model.onnx", False),  # trailing '/' = the whole folder
        ((), ("onnx/",), "onnx2/model.onnx", True),
        (("*.safetensors",), ("*fp16*",), "model.fp16.safetensors", False),  # exclude wins
        (("model-0000[1-2]*",), (), "model-00002-of-00003.safetensors", True),
    ],
)
def test_include_exclude_semantics(include: tuple[str, ...], exclude: tuple[str, ...], path: str, kept: bool) -> None:
    spec = HFModelSpec(name="a", repo="o/m", include=include, exclude=exclude)
    assert selects(spec, path) is kept


def test_cli_reports_manifest_error_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text('[[hf-model]]\nname = "a"\nrepo = "o/m"\nrevison = "main"\n')
    code = run(["lock", "--manifest", str(manifest)])
    assert code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert f"{manifest}:4" in err and "did you mean 'revision'?" in err
    assert not (tmp_path / "modelguard.lock").exists()


def test_lines_survive_multiline_arrays_strings_and_inline_entries() -> None:
    text = '''\
[policy]
allowed-orgs = [
    "google",   # [not a header]
    "acme",
]

[[policy.signers]]
keyid = "''' + "ab" * 32 + '''"
algorithm = "ed25519"
public-key = """
-----BEGIN PUBLIC KEY-----
[[hf-model]]
-----END PUBLIC KEY-----
"""

[[hf-model]]
name = "first"
repo = "google/a"
'''
    m = parse_manifest(text, source="m.toml")
    assert m.policy.signers[0].line == 7
    assert [s.line for s in m.hf_models] == [16]
    inline = parse_manifest('\n\nhf-model = [\n  { name = "x", repo = "o/m" },\n]\n', source="m.toml")
    assert inline.hf_models[0].line == 3
    message = _error('\nhf-model = [{ name = "x", repo = "o/m", revison = "v1" }]\n')
    assert message.startswith("m.toml:2:") and "'revision'" in message
