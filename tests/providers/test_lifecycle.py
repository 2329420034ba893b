"""verify for provider models: findings from the lockfile + catalog, and with remote=True from the APIs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from modelguard.models import Severity
from modelguard.providers import check_locked_provider_models
from modelguard.providers.catalog import load_catalog
from modelguard.spec.types import LockedProviderModel, Policy
from tests.providers.conftest import FakeProvider

TODAY = date(2026, 11, 25)
SECRET = "sk-test-DO-NOT-LEAK-77aa"


def locked(resolved: str, provider: str = "anthropic", requested: str = "", kind: str = "dated",
           **kw: str) -> LockedProviderModel:
    return LockedProviderModel(name="chat", provider=provider, requested=requested or resolved, resolved=resolved,
                               pin_kind=kind, resolved_via="catalog", **kw)  # type: ignore[arg-type]


def rules(findings: list) -> list[tuple[str, Severity]]:  # type: ignore[type-arg]
    return [(f.rule, f.severity) for f in findings]


def test_pinned_active_model_has_no_finding() -> None:
    assert check_locked_provider_models([locked("gpt-4o-2024-08-06", "openai")], Policy(), today=TODAY) == []


def test_alias_in_use_is_medium_or_low_when_policy_allows() -> None:
    entry = locked("mistral-large-latest", "mistral", kind="alias")
    assert rules(check_locked_provider_models([entry], Policy(), today=TODAY)) == [("MG-P201", Severity.MEDIUM)]
    allowed = check_locked_provider_models([entry], Policy(allow_floating_aliases=True), today=TODAY)
    assert rules(allowed) == [("MG-P201", Severity.LOW)] and allowed[0].model == "chat"


def test_deprecated_inside_window_is_medium_outside_is_low() -> None:
    entry = locked("claude-sonnet-4-5-20250929")  # retires 2026-11-30 per the catalog
    assert rules(check_locked_provider_models([entry], Policy(), today=TODAY)) == [("MG-P203", Severity.MEDIUM)]
    early = check_locked_provider_models([entry], Policy(deprecation_window_days=3), today=TODAY)
    assert rules(early) == [("MG-P203", Severity.LOW)]
    assert "replacement" in early[0].message


def test_retired_is_high() -> None:
    found = check_locked_provider_models([locked("claude-3-5-sonnet-20241022")], Policy(), today=TODAY)
    assert rules(found) == [("MG-P204", Severity.HIGH)] and "2025-10-28" in found[0].message


def test_lock_lifecycle_fields_are_used_when_the_catalog_has_none() -> None:
    entry = locked("claude-opus-9-20270101", status="deprecated", retires_on="2026-12-01")
    assert rules(check_locked_provider_models([entry], Policy(), today=TODAY)) == [("MG-P203", Severity.MEDIUM)]


def test_lock_saying_deprecated_without_a_date_stays_deprecated() -> None:
    """A lock written when the provider gave no day keeps saying so; it is never read as active."""
    found = check_locked_provider_models([locked("claude-opus-9-20270101", status="deprecated")], Policy(),
                                         today=TODAY)
    assert rules(found) == [("MG-P203", Severity.LOW)] and "retirement date not yet published" in found[0].message


def test_stale_catalog_is_info() -> None:
    later = load_catalog().as_of + timedelta(days=load_catalog().stale_after_days + 1)
    found = check_locked_provider_models([locked("gpt-4o-2024-08-06", "openai")], Policy(), today=later)
    assert rules(found) == [("MG-P205", Severity.INFO)]
    assert check_locked_provider_models([], Policy(), today=later) == []


def _anthropic(fake: FakeProvider, alias: str, target: str) -> None:
    for path, model in ((alias, target), (target, target)):
        fake.route(f"/v1/models/{path}", (200, {"type": "model", "id": model, "display_name": "x",
                                                 "created_at": "2026-01-01T00:00:00Z"}))


def test_remote_reports_alias_moved_since_lock(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    _anthropic(fake, "claude-haiku-4-5", "claude-haiku-4-5-20261101")
    fake.route("/v1/models/claude-haiku-4-5-20251001", (200, {
        "type": "model", "id": "claude-haiku-4-5-20251001", "display_name": "x",
        "created_at": "2025-10-01T00:00:00Z"}))
    entry = locked("claude-haiku-4-5-20251001", requested="claude-haiku-4-5")
    found = check_locked_provider_models([entry], Policy(), today=TODAY, remote=True,
                                         base_urls={"anthropic": fake.url + "/v1"})
    assert rules(found) == [("MG-P207", Severity.MEDIUM)]
    assert "claude-haiku-4-5-20261101" in found[0].message and SECRET not in found[0].message


def test_remote_offline_by_default(fake: FakeProvider) -> None:
    entry = locked("claude-haiku-4-5-20251001", requested="claude-haiku-4-5")
    assert check_locked_provider_models([entry], Policy(), today=TODAY, base_urls={"anthropic": fake.url}) == []
    assert fake.seen == []


def test_remote_model_no_longer_listed(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    found = check_locked_provider_models([locked("gpt-4o-2024-11-20", "openai", requested="gpt-4o")], Policy(),
                                         today=TODAY, remote=True, base_urls={"openai": fake.url + "/v1"})
    assert rules(found) == [("MG-P208", Severity.HIGH)]


def test_remote_refreshes_mistral_deprecation(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", SECRET)
    fake.route("/v1/models", (200, {"object": "list", "data": [
        {"id": "mistral-medium-2508", "object": "model", "aliases": ["mistral-medium-latest"],
         "deprecation": "2026-11-01T00:00:00Z", "deprecation_replacement_model": "mistral-medium-2605"}]}))
    entry = locked("mistral-medium-2508", "mistral", requested="mistral-medium-latest")
    found = check_locked_provider_models([entry], Policy(), today=TODAY, remote=True,
                                         base_urls={"mistral": fake.url + "/v1"})
    assert rules(found) == [("MG-P204", Severity.HIGH)] and "mistral-medium-2605" in found[0].message


def test_fresher_source_of_lifecycle_wins() -> None:
    # the catalog says claude-sonnet-4-5-20250929 retires 2026-11-30
    newer_lock = locked("claude-sonnet-4-5-20250929", retires_on="2027-06-01", resolved_at="2026-12-01")
    assert rules(check_locked_provider_models([newer_lock], Policy(), today=TODAY)) == [("MG-P203", Severity.LOW)]
    older_lock = locked("claude-sonnet-4-5-20250929", retires_on="2027-06-01", resolved_at="2026-01-01")
    assert rules(check_locked_provider_models([older_lock], Policy(), today=TODAY)) == [("MG-P203", Severity.MEDIUM)]


def test_malformed_lifecycle_date_in_lock_is_a_lockfile_error() -> None:
    from modelguard.errors import ExitCode, LockfileError

    with pytest.raises(LockfileError, match="retires-on") as err:
        check_locked_provider_models([locked("gpt-4o-2024-08-06", "openai", retires_on="soon")], Policy(), today=TODAY)
    assert err.value.exit_code == ExitCode.USAGE


def test_unreadable_mistral_deprecation_is_no_verdict(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelguard.errors import HubUnreachableError

    monkeypatch.setenv("MISTRAL_API_KEY", SECRET)
    fake.route("/v1/models", (200, {"object": "list", "data": [
        {"id": "mistral-medium-2508", "object": "model", "aliases": [], "deprecation": "next spring"}]}))
    with pytest.raises(HubUnreachableError, match="deprecation date"):
        check_locked_provider_models([locked("mistral-medium-2508", "mistral")], Policy(), today=TODAY, remote=True,
                                     base_urls={"mistral": fake.url + "/v1"})
