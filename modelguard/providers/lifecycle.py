"""``verify`` for provider models: findings about locked entries (alias, deprecation, retirement).

Offline by default: the lockfile's lifecycle fields merged with the built-in catalog (the later
of the two wins, so a newer modelguard reports a retirement announced after the lock). With
``remote=True`` the provider APIs refresh lifecycle and say whether an alias moved since lock.
Makes findings only through :func:`modelguard.report.rules.finding`; raises nothing for a finding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from modelguard import clock
from modelguard.errors import LockfileError
from modelguard.models import Finding, Severity
from modelguard.providers.catalog import Catalog, Lifecycle, load_catalog
from modelguard.providers.interface import ModelsAPI, RemoteModel, client_for
from modelguard.report.rules import finding
from modelguard.spec.types import LockedProviderModel, Policy


def lifecycle_findings(
    model_id: str, life: Lifecycle, policy: Policy, today: date, *, model: str = "", location: str = "", path: str = ""
) -> list[Finding]:
    """MG-P204 when retired, MG-P203 when deprecated (medium inside the window, low before it)."""
    status = life.status(today)
    instead = f"; replacement: {life.replacement}" if life.replacement else ""
    if status == "retired":
        return [finding("MG-P204", f"{model_id} was retired on {life.retires_on}{instead}", detail=life.source,
                        model=model, location=location, path=path)]
    if status == "deprecated":
        window = today + timedelta(days=policy.deprecation_window_days)
        soon = bool(life.retires_on) and date.fromisoformat(life.retires_on) <= window
        when = f"retires on {life.retires_on}" if life.retires_on else "retirement date not yet published"
        return [finding("MG-P203", f"{model_id} is deprecated and {when}{instead}", detail=life.source,
                        severity=Severity.MEDIUM if soon else Severity.LOW, model=model, location=location,
                        path=path)]
    return []


def alias_finding(model_id: str, policy: Policy, *, hint: str = "", model: str = "", location: str = "",
                  path: str = "") -> Finding:
    """MG-P201: medium, or low when the policy allows floating aliases on purpose."""
    severity = Severity.LOW if policy.allow_floating_aliases else Severity.MEDIUM
    return finding("MG-P201", f"{model_id} is a floating alias{hint}", severity=severity,
                   model=model, location=location, path=path)


def _check_dates(entry: LockedProviderModel) -> None:
    for key, value in (("deprecated-on", entry.deprecated_on), ("retires-on", entry.retires_on)):
        try:
            if value:
                date.fromisoformat(value)
        except ValueError:
            raise LockfileError(f"lockfile entry {entry.name!r}: {key} = {value!r} is not an ISO date "
                                "(YYYY-MM-DD); run `modelguard lock` again") from None


def _merged(catalog: Catalog, entry: LockedProviderModel) -> Lifecycle:
    """The fresher of the lock's lifecycle fields and the catalog's (a catalog newer than the lock wins)."""
    dated = bool(entry.retires_on or entry.deprecated_on)
    # a lock written when the provider had announced no date still says status = "deprecated"
    locked = Lifecycle(entry.deprecated_on, entry.retires_on, entry.replacement, entry.source,
                       undated=entry.status == "deprecated" and not dated)
    current = catalog.lifecycle(entry.provider, entry.platform, entry.resolved)
    if current is None:
        return locked
    if not dated:
        return current
    try:
        lock_day = date.fromisoformat(entry.resolved_at[:10])
    except ValueError:
        return current
    return current if catalog.as_of >= lock_day else locked


def _remote_checks(entry: LockedProviderModel, client: ModelsAPI, catalog: Catalog,
                   life: Lifecycle) -> tuple[Lifecycle, list[Finding]]:
    found: list[Finding] = []
    now: RemoteModel | None = client.retrieve(entry.resolved)
    if now is None:
        found.append(finding("MG-P208", f"{entry.provider} no longer lists {entry.resolved}", model=entry.name))
        return life, found
    if now.retires_on:
        life = Lifecycle(now.deprecated_on or life.deprecated_on, now.retires_on,
                         now.replacement or life.replacement, client.docs_url)
    if entry.requested != entry.resolved:
        if client.resolves_aliases:
            moved = client.retrieve(entry.requested)
            target = moved.id if moved is not None else ""
        else:
            target = catalog.classify(entry.provider, entry.platform, entry.requested).resolves_to
        if target and target != entry.resolved:
            found.append(finding("MG-P207", f"{entry.requested} now resolves to {target}, locked as {entry.resolved}",
                                 model=entry.name))
    return life, found


def check_locked_provider_models(
    locked: Sequence[LockedProviderModel],
    policy: Policy,
    *,
    today: date | None = None,
    remote: bool = False,
    base_urls: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Findings for the locked provider models; remote=True asks the providers (keys from env)."""
    catalog = load_catalog()
    day = today or clock.today()
    findings: list[Finding] = []
    clients: dict[str, ModelsAPI | None] = {}
    for entry in locked:
        _check_dates(entry)
        life = _merged(catalog, entry)
        if entry.pin_kind == "alias":
            where = f" (Azure deployment {entry.deployment})" if entry.platform == "azure" else ""
            findings.append(alias_finding(entry.resolved, policy, hint=where, model=entry.name))
        if remote and entry.platform == "api":
            if entry.provider not in clients:
                clients[entry.provider] = client_for(entry.provider, base_urls)
            client = clients[entry.provider]
            if client is not None:
                life, extra = _remote_checks(entry, client, catalog, life)
                findings.extend(extra)
        findings.extend(lifecycle_findings(entry.resolved, life, policy, day, model=entry.name))
    if locked and catalog.is_stale(day):
        findings.append(finding("MG-P205", f"the provider catalog is from {catalog.as_of.isoformat()}, more than "
                                f"{catalog.stale_after_days} days ago"))
    return findings
