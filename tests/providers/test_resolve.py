"""lock for provider models: catalog first, then the real clients against loopback fakes."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest

from modelguard.cli import run
from modelguard.errors import AccessDeniedError, ConfigError, ExitCode, HubUnreachableError, NotFoundError, PolicyError
from modelguard.providers import lock_provider_models
from modelguard.providers.resolve import spec_sha256
from modelguard.spec.types import Policy, ProviderModelSpec
from tests.providers.conftest import FakeProvider

TODAY = date(2026, 11, 25)
DENY = Policy()
ALLOW = Policy(allow_floating_aliases=True)
SECRET = "sk-test-DO-NOT-LEAK-4f9c2a"


def spec(model: str, provider: str = "openai", **kw: str) -> ProviderModelSpec:
    return ProviderModelSpec(name="chat", provider=provider, model=model, line=7, **kw)  # type: ignore[arg-type]


def test_alias_resolved_via_catalog_offline() -> None:
    [got] = lock_provider_models([spec("gpt-4o")], DENY, today=TODAY)
    assert (got.requested, got.resolved, got.pin_kind, got.resolved_via) == (
        "gpt-4o", "gpt-4o-2024-08-06", "dated", "catalog")
    assert got.resolved_at == "2026-11-25" and got.status == "active"
    assert got.source.startswith("https://") and got.spec_sha256 == spec_sha256(spec("gpt-4o"))


def test_anthropic_retrieve_model_resolves_an_alias(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    fake.route("/v1/models/claude-sonnet-9", (200, {
        "type": "model", "id": "claude-sonnet-9-20261101", "display_name": "Claude Sonnet 9",
        "created_at": "2026-11-01T00:00:00Z"}))
    fake.route("/v1/models/claude-sonnet-9-20261101", (200, {
        "type": "model", "id": "claude-sonnet-9-20261101", "display_name": "Claude Sonnet 9",
        "created_at": "2026-11-01T00:00:00Z"}))
    [got] = lock_provider_models([spec("claude-sonnet-9", "anthropic")], DENY, online=True, today=TODAY,
                                 base_urls={"anthropic": fake.url + "/v1"})
    assert (got.resolved, got.pin_kind, got.resolved_via) == ("claude-sonnet-9-20261101", "dated", "models-api")
    sent = fake.seen[0].headers
    assert sent["x-api-key"] == SECRET and sent["anthropic-version"] == "2023-06-01"


def test_anthropic_dateless_canonical_id_is_pinned(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("MODELGUARD_ANTHROPIC_BASE_URL", fake.url + "/v1")
    body = {"type": "model", "id": "claude-opus-9-1", "display_name": "Claude Opus 9.1",
            "created_at": "2026-11-01T00:00:00Z"}
    fake.route("/v1/models/claude-opus-9-1", (200, body))
    [got] = lock_provider_models([spec("claude-opus-9-1", "anthropic")], DENY, online=True, today=TODAY)
    assert (got.resolved, got.pin_kind, got.resolved_via) == ("claude-opus-9-1", "versioned", "models-api")


MISTRAL_LIST = {"object": "list", "data": [
    {"id": "mistral-small-2409", "object": "model", "created": 1726000000, "owned_by": "mistralai",
     "name": "mistral-small-2409", "description": "", "max_context_length": 32768,
     "aliases": ["mistral-small-latest"], "deprecation": "2026-12-01T00:00:00Z",
     "deprecation_replacement_model": "mistral-small-2506", "capabilities": {"completion_chat": True}},
    {"id": "mistral-small-latest", "object": "model", "created": 1726000000, "owned_by": "mistralai",
     "aliases": ["mistral-small-2409"], "deprecation": "2026-12-01T00:00:00Z", "capabilities": {}},
    {"id": "mistral-tiny", "object": "model", "owned_by": "mistralai", "aliases": [], "deprecation": None},
]}


def test_mistral_list_resolves_alias_and_carries_deprecation(fake: FakeProvider,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", SECRET)
    fake.route("/v1/models", (200, MISTRAL_LIST))
    [got] = lock_provider_models([spec("mistral-small-latest", "mistral")], DENY, online=True, today=TODAY,
                                 base_urls={"mistral": fake.url + "/v1"})
    assert (got.resolved, got.pin_kind, got.resolved_via) == ("mistral-small-2409", "dated", "models-api")
    assert (got.status, got.retires_on, got.replacement) == ("deprecated", "2026-12-01", "mistral-small-2506")
    assert fake.hits("/v1/models") == 1  # the list is fetched once


def test_mistral_alias_without_dated_card_is_unresolvable(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", SECRET)
    fake.route("/v1/models", (200, MISTRAL_LIST))
    with pytest.raises(PolicyError) as err:
        lock_provider_models([spec("mistral-tiny", "mistral")], DENY, online=True, today=TODAY,
                             base_urls={"mistral": fake.url + "/v1"})
    assert err.value.rule == "MG-P202"


def test_openai_retrieve_confirms_existence(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    for model in ("gpt-4o", "gpt-4o-2024-08-06"):
        fake.route(f"/v1/models/{model}", (200, {"id": model, "object": "model", "created": 1722814719,
                                                  "owned_by": "system"}))
    [got] = lock_provider_models([spec("gpt-4o")], DENY, online=True, today=TODAY,
                                 base_urls={"openai": fake.url + "/v1"})
    assert (got.resolved, got.resolved_via) == ("gpt-4o-2024-08-06", "catalog")
    assert fake.hits("/v1/models/gpt-4o") == 1 and fake.hits("/v1/models/gpt-4o-2024-08-06") == 1
    assert fake.seen[0].headers["authorization"] == f"Bearer {SECRET}"


def test_openai_unknown_model_is_not_found(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with pytest.raises(NotFoundError, match="manifest line 7"):
        lock_provider_models([spec("gpt-4o-2099-01-01")], DENY, online=True, base_urls={"openai": fake.url + "/v1"})


def test_gemini_list_is_paged_and_key_stays_out_of_the_url(fake: FakeProvider,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    page1 = {"models": [{"name": "models/gemini-1.5-pro-002", "version": "002", "displayName": "Gemini 1.5 Pro 002",
                         "supportedGenerationMethods": ["generateContent"]}], "nextPageToken": "p2"}
    page2 = {"models": [{"name": "models/gemini-2.0-flash", "version": "2.0",
                         "supportedGenerationMethods": ["generateContent"]},
                        {"name": "models/gemini-2.0-flash-001", "version": "2.0",
                         "supportedGenerationMethods": ["generateContent"]}]}
    fake.route("/v1beta/models", (200, page1), (200, page2))
    [got] = lock_provider_models([spec("gemini-2.0-flash", "gemini")], DENY, online=True, today=TODAY,
                                 base_urls={"gemini": fake.url + "/v1beta"})
    assert got.resolved == "gemini-2.0-flash-001"
    assert fake.seen[1].query["pageToken"] == ["p2"]
    assert all(SECRET not in str(s.query) for s in fake.seen)
    assert fake.seen[0].headers["x-goog-api-key"] == SECRET


def test_openrouter_canonical_slug_pins_and_needs_no_key(fake: FakeProvider) -> None:
    fake.route("/api/v1/models", (200, {"data": [
        {"id": "openai/gpt-4o", "canonical_slug": "openai/gpt-4o-2024-08-06", "name": "OpenAI: GPT-4o",
         "created": 1715367049, "context_length": 128000}]}))
    [got] = lock_provider_models([spec("openai/gpt-4o", "openrouter")], DENY, online=True, today=TODAY,
                                 base_urls={"openrouter": fake.url + "/api/v1"})
    assert (got.resolved, got.pin_kind, got.resolved_via) == ("openai/gpt-4o-2024-08-06", "dated", "models-api")
    assert "authorization" not in fake.seen[0].headers


def test_unresolvable_alias_refused_by_default_policy() -> None:
    with pytest.raises(PolicyError) as err:
        lock_provider_models([spec("mistral-large-latest", "mistral")], DENY, today=TODAY)
    assert err.value.rule == "MG-P202" and err.value.exit_code == ExitCode.REJECTED
    assert "MG-P202" in err.value.message and "manifest line 7" in err.value.message


def test_unresolvable_alias_locked_as_alias_when_policy_allows() -> None:
    [got] = lock_provider_models([spec("mistral-large-latest", "mistral")], ALLOW, today=TODAY)
    assert (got.resolved, got.pin_kind) == ("mistral-large-latest", "alias")


def test_azure_deployment_is_an_alias() -> None:
    azure = spec("gpt-4o-2024-08-06", platform="azure", deployment="chat-prod")
    with pytest.raises(PolicyError, match="Azure deployment 'chat-prod'"):
        lock_provider_models([azure], DENY, today=TODAY)
    [got] = lock_provider_models([azure], ALLOW, today=TODAY)
    assert (got.pin_kind, got.resolved, got.deployment) == ("alias", "gpt-4o-2024-08-06", "chat-prod")
    with pytest.raises(ConfigError, match="needs deployment"):
        lock_provider_models([spec("gpt-4o", platform="azure")], ALLOW)


def test_deprecated_and_retired_snapshots_carry_lifecycle() -> None:
    retired, deprecated = lock_provider_models(
        [spec("claude-3-5-sonnet-20241022", "anthropic"),
         ProviderModelSpec("writer", "anthropic", "claude-sonnet-4-5", line=9)], DENY, today=TODAY)
    assert (retired.status, retired.retires_on, retired.pin_kind) == ("retired", "2025-10-28", "dated")
    assert (deprecated.resolved, deprecated.status, deprecated.retires_on) == (
        "claude-sonnet-4-5-20250929", "deprecated", "2026-11-30")


def test_unchanged_entry_keeps_its_pin_without_network(fake: FakeProvider) -> None:
    [first] = lock_provider_models([spec("gpt-4o")], DENY, today=TODAY)
    [again] = lock_provider_models([spec("gpt-4o")], DENY, [first], online=True,
                                   base_urls={"openai": fake.url + "/v1"})
    assert again is first and fake.seen == []  # no key needed: nothing was asked


def test_unknown_provider_and_platform_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown provider"):
        lock_provider_models([spec("x", "acme")], DENY)
    with pytest.raises(ConfigError, match="unknown platform"):
        lock_provider_models([spec("gpt-4o", platform="moon")], DENY)


def test_missing_key_is_exit_3_naming_the_variable(fake: FakeProvider) -> None:
    with pytest.raises(AccessDeniedError) as err:
        lock_provider_models([spec("gemini-2.0-flash", "gemini")], DENY, online=True,
                             base_urls={"gemini": fake.url})
    assert err.value.exit_code == ExitCode.NO_VERDICT
    assert "GEMINI_API_KEY or GOOGLE_API_KEY" in err.value.message and fake.seen == []


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key_is_access_denied(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    fake.route("/v1/models/gpt-4o", (status, {"error": {"message": f"Incorrect API key provided: {SECRET}"}}))
    with pytest.raises(AccessDeniedError, match=f"HTTP {status}") as err:
        lock_provider_models([spec("gpt-4o")], DENY, online=True, base_urls={"openai": fake.url + "/v1"})
    assert SECRET not in str(err.value)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limit_and_server_errors_retry_then_give_no_verdict(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch,
                                                                  status: int) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    fake.route("/v1/models/gpt-4o", (status, {"error": {"message": "busy"}}))
    with pytest.raises(HubUnreachableError, match=f"HTTP {status}") as err:
        lock_provider_models([spec("gpt-4o")], DENY, online=True, base_urls={"openai": fake.url + "/v1"})
    assert fake.hits("/v1/models/gpt-4o") == 3 and err.value.exit_code == ExitCode.NO_VERDICT


def test_a_provider_asking_to_wait_an_hour_gets_no_verdict_at_once(fake: FakeProvider,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The one retry policy honours Retry-After for providers as for the Hub: not three blind tries."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    fake.route("/v1/models/gpt-4o", (429, {"error": {"message": "slow down"}}, {"Retry-After": "3600"}))
    with pytest.raises(HubUnreachableError, match="asks to wait 3600 s"):
        lock_provider_models([spec("gpt-4o")], DENY, online=True, base_urls={"openai": fake.url + "/v1"})
    assert fake.hits("/v1/models/gpt-4o") == 1


def test_a_short_retry_after_is_waited_out(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    ok = {"type": "model", "id": "claude-opus-4-6", "display_name": "Claude Opus 4.6",
          "created_at": "2026-02-04T00:00:00Z"}
    fake.route("/v1/models/claude-opus-4-6", (503, {}, {"Retry-After": "1"}), (200, ok))
    [got] = lock_provider_models([spec("claude-opus-4-6", "anthropic")], DENY, online=True,
                                 base_urls={"anthropic": fake.url + "/v1"})
    assert got.resolved == "claude-opus-4-6" and fake.hits("/v1/models/claude-opus-4-6") >= 2


def test_transient_error_then_success(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    ok = {"type": "model", "id": "claude-opus-4-6", "display_name": "Claude Opus 4.6",
          "created_at": "2026-02-04T00:00:00Z"}
    fake.route("/v1/models/claude-opus-4-6", (503, {}), (200, ok))
    [got] = lock_provider_models([spec("claude-opus-4-6", "anthropic")], DENY, online=True,
                                 base_urls={"anthropic": fake.url + "/v1"})
    assert got.resolved == "claude-opus-4-6"


def test_unreachable_provider_is_no_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at the end of the block: nothing listens there
    with pytest.raises(HubUnreachableError):
        lock_provider_models([spec("gpt-4o")], DENY, online=True, base_urls={"openai": f"http://127.0.0.1:{port}"})


def test_key_never_leaks(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                         capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    ok = {"type": "model", "id": "claude-opus-4-6", "display_name": "Claude Opus 4.6",
          "created_at": "2026-02-04T00:00:00Z"}
    fake.route("/v1/models/claude-opus-4-6", (200, ok))
    fake.route("/v1/models/gpt-4o", (500, {"error": SECRET}))
    locked = lock_provider_models([spec("claude-opus-4-6", "anthropic")], DENY, online=True,
                                  base_urls={"anthropic": fake.url + "/v1"})
    with pytest.raises(HubUnreachableError) as err:
        lock_provider_models([spec("gpt-4o")], DENY, online=True, base_urls={"openai": fake.url + "/v1"})
    out = capsys.readouterr()
    texts = [repr(locked), str(err.value), caplog.text, out.out, out.err]
    assert all(SECRET not in t for t in texts)


def test_unknown_dateless_anthropic_id_is_not_assumed_pinned_offline() -> None:
    with pytest.raises(PolicyError, match="not in the catalog") as err:
        lock_provider_models([spec("claude-sonnet-9-9", "anthropic")], DENY, today=TODAY)
    assert "lock --online may resolve it" in err.value.message


@pytest.mark.parametrize(("key", "problem"), [("sk-test\nsecond-line", "a line break"),
                                            ("sk-test\u2014dash", "a non-ASCII character"),
                                            ("sk-test\x7f", "a control character")])
def test_a_key_that_cannot_be_sent_is_a_usage_error_naming_the_variable(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    key: str, problem: str,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("MODELGUARD_OPENAI_BASE_URL", fake.url + "/v1")
    fake.route("/v1/models/gpt-4o-2024-08-06", (200, {"id": "gpt-4o-2024-08-06", "object": "model"}))
    manifest = tmp_path / "modelguard.toml"
    manifest.write_text('[[provider-model]]\nname = "chat"\nprovider = "openai"\nmodel = "gpt-4o-2024-08-06"\n')
    assert run(["lock", "--online", "--manifest", str(manifest)]) == ExitCode.USAGE
    out = capsys.readouterr()
    assert out.err.splitlines() == [f"modelguard: error: openai: OPENAI_API_KEY holds {problem}, so it is not an API "
                                    "key; set it to the key alone (printable ASCII, no spaces or line breaks)"]
    assert "sk-test" not in out.out + out.err
    assert fake.seen == [] and not (tmp_path / "modelguard.lock").exists()


@pytest.mark.parametrize(("body", "rule"), [
    (b"[" * 100_000 + b"]" * 100_000, "MG-H133"),    # a nesting bomb: refused before the parser recurses
    (b'{"data": "' + b"x" * 300_000 + b'"}', "MG-H130"),  # larger than the answer budget (lowered below)
])
def test_a_provider_answer_is_read_within_its_budgets(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch,
                                                      body: bytes, rule: str) -> None:
    from modelguard.errors import HubUnreachableError
    from modelguard.providers import _http

    monkeypatch.setenv("MODELGUARD_LIMIT_ANSWER_BYTES", "200000")
    fake.route("/v1/models", (200, body))
    with pytest.raises(HubUnreachableError) as e:
        _http.get_json("openai", f"{fake.url}/v1/models", {})
    assert e.value.rule == rule and e.value.exit_code == 3
