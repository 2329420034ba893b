"""``lock`` for provider models: each ``[[provider-model]]`` becomes a :class:`LockedProviderModel`.

Resolution order: an unchanged manifest entry keeps its existing pin; then the catalog; then,
with ``online=True``, the provider's metadata API (which also confirms that the ID exists).
A floating alias that stays unresolved is written as ``pin-kind = "alias"`` only when the policy
allows floating aliases; otherwise lock fails (MG-P202). An Azure deployment is always an alias:
its version-upgrade option is invisible to modelguard (see docs/providers.md).
Never sends a request unless ``online`` is set; never writes a key anywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from modelguard import clock
from modelguard.errors import ConfigError, NotFoundError, PolicyError
from modelguard.providers.catalog import PLATFORMS, Catalog, Lifecycle, load_catalog, normalise_provider
from modelguard.providers.interface import ModelsAPI, RemoteModel, client_for
from modelguard.spec.types import LockedProviderModel, Policy, ProviderModelSpec


def spec_sha256(spec: ProviderModelSpec) -> str:
    """Hash of what the entry asks for (not its line), so an unchanged entry keeps its pin."""
    fields = [spec.name, spec.provider, spec.model, spec.platform, spec.deployment, spec.region]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


@dataclass(frozen=True)
class _Resolution:
    resolved: str
    kind: str
    via: str
    source: str
    why: str = ""
    """for an unresolved alias: why it could not be pinned"""


def _pin_kind(catalog: Catalog, provider: str, platform: str, model: str) -> str:
    kind = catalog.classify(provider, platform, model).kind
    return kind if kind in ("dated", "versioned") else ""


def _resolve(
    spec: ProviderModelSpec, provider: str, catalog: Catalog, client: ModelsAPI | None
) -> _Resolution:
    platform, model = spec.platform, spec.model
    known = catalog.classify(provider, platform, model)
    remote: RemoteModel | None = None
    if client is not None:
        remote = client.retrieve(model)
        if remote is None:
            raise NotFoundError(
                f"{spec.name}: {provider} does not know model {model!r} (manifest line {spec.line}); "
                "check the ID against the provider's model list"
            )
    if remote is not None and client is not None and client.resolves_aliases:
        kind = _pin_kind(catalog, provider, platform, remote.id)
        if not kind and remote.id == model and known.kind == "unknown":
            kind = "versioned"  # the API answers with the ID itself: a canonical, dateless snapshot
        if kind:
            return _Resolution(remote.id, kind, "models-api", client.docs_url)
    if known.pinned:
        return _Resolution(model, known.kind, "models-api" if remote else "catalog", known.source)
    if known.kind == "alias" and known.resolves_to:
        kind = _pin_kind(catalog, provider, platform, known.resolves_to) or "versioned"
        return _Resolution(known.resolves_to, kind, "catalog", known.source)
    if known.kind == "alias":
        why = "the catalog records no snapshot for it"
    else:
        why = "it is not in the catalog and its shape does not mark it as pinned"
    if client is None:
        why += "; no models API can resolve it" if spec.platform != "api" else "; lock --online may resolve it"
    return _Resolution(model, "alias", "catalog", known.source, why)


def _lifecycle(
    catalog: Catalog, provider: str, platform: str, ids: Sequence[str], remote: RemoteModel | None
) -> Lifecycle:
    for model in ids:
        found = catalog.lifecycle(provider, platform, model)
        if found is not None:
            break
    else:
        found = Lifecycle()
    if remote is not None and (remote.retires_on or remote.deprecated_on):
        return Lifecycle(remote.deprecated_on or found.deprecated_on, remote.retires_on,
                         remote.replacement or found.replacement, found.source)
    return found


def _refuse(spec: ProviderModelSpec, why: str) -> PolicyError:
    return PolicyError(
        f"{spec.name}: {spec.model!r} is a floating alias that cannot be pinned ({why}) "
        f"[MG-P202, manifest line {spec.line}]; write a dated model ID, or set "
        "allow-floating-aliases = true in [policy]",
        rule="MG-P202",
    )


def lock_provider_models(
    specs: Sequence[ProviderModelSpec],
    policy: Policy,
    existing: Sequence[LockedProviderModel] = (),
    *,
    online: bool = False,
    today: date | None = None,
    base_urls: Mapping[str, str] | None = None,
) -> list[LockedProviderModel]:
    """Resolve each provider model to a pinned snapshot, keeping unchanged existing pins."""
    catalog = load_catalog()
    day = today or clock.today()
    kept = {e.name: e for e in existing}
    clients: dict[str, ModelsAPI | None] = {}
    locked: list[LockedProviderModel] = []
    for spec in specs:
        provider = normalise_provider(spec.provider, line=spec.line)
        if spec.platform not in PLATFORMS:
            raise ConfigError(f"{spec.name}: unknown platform {spec.platform!r} (manifest line {spec.line}); "
                              f"use one of: {', '.join(PLATFORMS)}")
        if spec.platform == "azure" and not spec.deployment:
            raise ConfigError(f"{spec.name}: platform \"azure\" needs deployment = \"<name>\" "
                              f"(manifest line {spec.line})")
        digest = spec_sha256(spec)
        previous = kept.get(spec.name)
        if previous is not None and previous.spec_sha256 == digest:
            locked.append(previous)
            continue
        client = None
        if online and spec.platform == "api":
            if provider not in clients:
                clients[provider] = client_for(provider, base_urls)
            client = clients[provider]
        res = _resolve(spec, provider, catalog, client)
        if spec.platform == "azure":
            res = _Resolution(res.resolved, "alias", res.via, res.source,
                              f"Azure deployment {spec.deployment!r} follows its version-upgrade option, "
                              "which modelguard cannot see")
        if res.kind == "alias" and not policy.allow_floating_aliases:
            raise _refuse(spec, res.why)
        remote = client.retrieve(res.resolved) if client is not None and res.kind != "alias" else None
        if client is not None and res.kind != "alias" and remote is None:
            raise NotFoundError(f"{spec.name}: {provider} no longer serves {res.resolved!r}, the snapshot "
                                f"{spec.model!r} resolved to (manifest line {spec.line})")
        life = _lifecycle(catalog, provider, spec.platform, [res.resolved, spec.model], remote)
        locked.append(LockedProviderModel(
            name=spec.name,
            provider=provider,
            requested=spec.model,
            resolved=res.resolved,
            pin_kind=res.kind,
            resolved_via=res.via,
            resolved_at=day.isoformat(),
            platform=spec.platform,
            deployment=spec.deployment,
            region=spec.region,
            status=life.status(day),
            deprecated_on=life.deprecated_on,
            retires_on=life.retires_on,
            replacement=life.replacement,
            source=life.source or res.source,
            spec_sha256=digest,
        ))
    return locked
