from __future__ import annotations

import json
from datetime import date
from importlib import resources

import pytest

from modelguard.errors import ConfigError
from modelguard.providers.catalog import Lifecycle, load_catalog, normalise_provider, parse_catalog


def _raw() -> dict[str, object]:
    text = resources.files("modelguard.providers").joinpath("catalog.json").read_text(encoding="utf-8")
    data: dict[str, object] = json.loads(text)
    return data


def test_every_fact_names_an_https_source_and_says_whether_it_was_confirmed() -> None:
    scopes = _raw()["scopes"]
    assert isinstance(scopes, dict)
    facts = 0
    for scope in scopes.values():
        assert scope["source"].startswith("https://")
        for group in ("pinned-patterns", "floating-patterns"):
            for fact in scope.get(group, []):
                assert fact["source"].startswith("https://") and isinstance(fact["confirmed"], bool)
                facts += 1
        for group in ("aliases", "models", "pinned-ids"):
            for fact in scope.get(group, {}).values():
                assert fact["source"].startswith("https://") and isinstance(fact["confirmed"], bool)
                facts += 1
        for model, fact in scope.get("models", {}).items():
            # the date each lifecycle fact was seen: the copy's date, or "undated" when it carries none
            assert fact["seen"] == "undated" or date.fromisoformat(fact["seen"]), model
            assert fact["seen-in"], model
    assert facts > 250


@pytest.mark.parametrize(
    ("fact", "message"),
    [({"retires-on": "soon", "source": "https://x"}, "'soon' is not an ISO date"),
     ({"deprecated-on": "2026/01/01", "source": "https://x"}, "is not an ISO date"),
     ({"retires-on": "2026-01-01", "kind": "alias", "source": "https://x"}, "has kind 'alias'")],
)
def test_a_broken_lifecycle_fact_is_refused_at_load(fact: dict[str, str], message: str) -> None:
    scope = {"source": "https://x", "dateless": "floating", "models": {"m-1": fact}}
    with pytest.raises(ConfigError, match=message):
        parse_catalog(json.dumps({"catalog-version": 1, "as-of": "2026-01-01", "stale-after-days": 90,
                                  "scopes": {"openai/api": scope}}))


def test_an_undated_deprecation_is_never_active_and_never_retired() -> None:
    life = Lifecycle(deprecated_on="", retires_on="", undated=True)
    assert {life.status(date(1999, 1, 1)), life.status(date(2199, 1, 1))} == {"deprecated"}


@pytest.mark.parametrize(
    ("provider", "platform", "model", "kind", "target"),
    [
        ("openai", "api", "gpt-4o", "alias", "gpt-4o-2024-08-06"),
        ("openai", "api", "gpt-4o-2024-08-06", "dated", ""),
        ("openai", "api", "gpt-4-0613", "dated", ""),
        ("openai", "api", "gpt-9-turbo", "alias", ""),  # dateless OpenAI IDs float
        ("anthropic", "api", "claude-sonnet-4-5", "alias", "claude-sonnet-4-5-20250929"),
        ("anthropic", "api", "claude-opus-4-6", "versioned", ""),  # dateless but pinned
        ("anthropic", "api", "claude-sonnet-9-9", "unknown", ""),  # dateless Anthropic: cannot tell offline
        ("anthropic", "bedrock", "anthropic.claude-sonnet-4-20250514-v1:0", "versioned", ""),
        ("anthropic", "vertex", "claude-3-5-sonnet-v2@20241022", "dated", ""),
        ("gemini", "api", "gemini-1.5-pro-002", "versioned", ""),
        ("gemini", "api", "models/gemini-1.5-pro-latest", "alias", ""),
        ("gemini", "vertex", "gemini-1.5-pro", "alias", ""),  # auto-updated alias on Vertex
        ("mistral", "api", "mistral-large-2411", "dated", ""),
        ("mistral", "api", "mistral-large-latest", "alias", ""),
        ("meta", "bedrock", "meta.llama3-70b-instruct-v1:0", "versioned", ""),
        ("cohere", "api", "command-r-08-2024", "dated", ""),
        ("nobody", "api", "x", "unknown", ""),
    ],
)
def test_classify(provider: str, platform: str, model: str, kind: str, target: str) -> None:
    got = load_catalog().classify(provider, platform, model)
    assert (got.kind, got.resolves_to) == (kind, target)


def test_lifecycle_status_follows_the_dates() -> None:
    life = Lifecycle(deprecated_on="2026-01-01", retires_on="2026-06-01")
    assert life.status(date(2025, 12, 1)) == "deprecated"  # a retirement date is announced
    assert life.status(date(2026, 6, 1)) == "retired"
    assert Lifecycle().status(date(2026, 6, 1)) == "active"


def test_unknown_provider_is_a_config_error_naming_the_line() -> None:
    with pytest.raises(ConfigError, match="line 4"):
        normalise_provider("acme", line=4)
    assert normalise_provider("Google") == "gemini"


def test_unknown_catalog_version_is_refused() -> None:
    with pytest.raises(ConfigError, match="catalog-version"):
        parse_catalog('{"catalog-version": 2}')


def test_guess_provider_from_id_shape() -> None:
    cat = load_catalog()
    assert cat.guess("claude-3-opus-20240229") == ("anthropic", "api")
    assert cat.guess("us.anthropic.claude-3-haiku-20240307-v1:0") == ("anthropic", "bedrock")
    assert cat.guess("hello-world") is None


def test_alias_targets_are_pinned_and_every_lifecycle_entry_is_classified() -> None:
    cat = load_catalog()
    for key, scope in cat.scopes.items():
        provider, _, platform = key.partition("/")
        for alias, (target, _source) in scope.aliases.items():
            assert cat.classify(provider, platform, alias).kind == "alias", alias
            if target:
                assert cat.classify(provider, platform, target).pinned, (key, target)
        for model in scope.models:
            # a retired name is either a fixed ID or a floating one; "cannot tell" would hide it from lock
            assert cat.classify(provider, platform, model).kind != "unknown", (key, model)
