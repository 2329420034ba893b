"""The built-in provider catalog (``catalog.json``): ID shapes, floating aliases, lifecycle dates.

Owns reading the dated data file and answering three questions offline: is this model ID a
floating alias or a pinned snapshot, what does the alias resolve to (as of the catalog date),
and what lifecycle dates did the provider publish for it. Pure: no network, no findings.
It must not guess: an ID it cannot classify is reported as ``unknown``, never as pinned.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

from modelguard.errors import ConfigError

PROVIDER_NAMES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "google": "gemini",
    "mistral": "mistral",
    "mistralai": "mistral",
    "cohere": "cohere",
    "openrouter": "openrouter",
    "amazon": "amazon",
    "meta": "meta",
    "azure-openai": "openai",
}
PLATFORMS = ("api", "azure", "bedrock", "vertex")


@dataclass(frozen=True)
class Lifecycle:
    """Published lifecycle dates of one model ID (ISO dates, empty when not published).

    ``undated`` marks a model the provider lists as deprecated or retiring without giving a date
    (or giving only "not before" one): it is ``deprecated`` from the start, never ``retired`` and
    never ``active``, because guessing a day either way would be inventing a fact.
    """

    deprecated_on: str = ""
    retires_on: str = ""
    replacement: str = ""
    source: str = ""
    undated: bool = False

    def status(self, today: date) -> str:
        """``retired`` on or after the retirement date, ``deprecated`` once announced, else ``active``."""
        if self.retires_on and date.fromisoformat(self.retires_on) <= today:
            return "retired"
        if self.retires_on or self.undated or (self.deprecated_on and date.fromisoformat(self.deprecated_on) <= today):
            return "deprecated"
        return "active"


@dataclass(frozen=True)
class Classification:
    """What the catalog knows about one ID on one platform.

    ``kind`` is ``dated`` / ``versioned`` (pinned), ``alias`` (floating) or ``unknown``.
    ``resolves_to`` is set only for an alias whose target the catalog records.
    """

    model: str
    kind: str
    resolves_to: str = ""
    source: str = ""

    @property
    def pinned(self) -> bool:
        return self.kind in ("dated", "versioned")


@dataclass(frozen=True)
class _Pattern:
    kind: str
    regex: re.Pattern[str]
    source: str


@dataclass(frozen=True)
class _Scope:
    key: str
    source: str
    dateless: str
    shape: re.Pattern[str] | None
    pinned_patterns: tuple[_Pattern, ...]
    floating_patterns: tuple[_Pattern, ...]
    pinned_ids: dict[str, tuple[str, str]]
    aliases: dict[str, tuple[str, str]]
    models: dict[str, Lifecycle]


@dataclass(frozen=True)
class Catalog:
    as_of: date
    stale_after_days: int
    scopes: dict[str, _Scope]

    def scopes_for(self, provider: str, platform: str) -> list[_Scope]:
        """The scopes that apply, most specific first; empty when the pair is unknown."""
        return [s for s in (self.scopes.get(f"{provider}/{platform}"), self.scopes.get(f"*/{platform}")) if s]

    def classify(self, provider: str, platform: str, model: str) -> Classification:
        scopes = self.scopes_for(provider, platform)
        if not scopes:
            return Classification(model, "unknown")
        bare = model.removeprefix("models/")
        for scope in scopes:
            if bare in scope.aliases:
                target, source = scope.aliases[bare]
                return Classification(model, "alias", target, source)
            if bare in scope.pinned_ids:
                kind, source = scope.pinned_ids[bare]
                return Classification(model, kind, source=source)
        for scope in scopes:
            for p in scope.floating_patterns:
                if p.regex.search(bare):
                    return Classification(model, "alias", source=p.source)
            for p in scope.pinned_patterns:
                if p.regex.search(bare):
                    return Classification(model, p.kind, source=p.source)
        first = scopes[0]
        if first.dateless == "floating":
            return Classification(model, "alias", source=first.source)
        return Classification(model, "unknown", source=first.source)

    def lifecycle(self, provider: str, platform: str, model: str) -> Lifecycle | None:
        bare = model.removeprefix("models/")
        for scope in self.scopes_for(provider, platform):
            if bare in scope.models:
                return scope.models[bare]
        return None

    def guess(self, model: str) -> tuple[str, str] | None:
        """(provider, platform) for lint: the scope that names ``model`` exactly, else the first scope
        whose ID shape it has; None when neither. Exact names come first because retired IDs
        (``text-davinci-003``, ``claude-instant-1.2``) predate the shapes providers use today."""
        bare = model.removeprefix("models/")
        for key, scope in self.scopes.items():
            if bare in scope.models or bare in scope.aliases or bare in scope.pinned_ids:
                provider, _, platform = key.partition("/")
                return provider, platform
        return self.shaped(model)

    def shaped(self, model: str) -> tuple[str, str] | None:
        """(provider, platform) of the first scope whose ID shape ``model`` has; None if none."""
        for key, scope in self.scopes.items():
            if scope.shape is not None and scope.shape.search(model):
                provider, _, platform = key.partition("/")
                return provider, platform
        return None

    def names(self, model: str) -> bool:
        """Whether some scope lists ``model`` by its exact name (alias, pinned ID or lifecycle entry)."""
        bare = model.removeprefix("models/")
        return any(bare in s.models or bare in s.aliases or bare in s.pinned_ids for s in self.scopes.values())

    def is_stale(self, today: date) -> bool:
        return (today - self.as_of).days > self.stale_after_days


def normalise_provider(provider: str, *, line: int = 0) -> str:
    name = PROVIDER_NAMES.get(provider.strip().lower())
    if name is None:
        where = f" (manifest line {line})" if line else ""
        known = ", ".join(sorted(set(PROVIDER_NAMES.values())))
        raise ConfigError(f"unknown provider {provider!r}{where}; use one of: {known}")
    return name


def _compile(entries: list[dict[str, Any]], default_kind: str) -> tuple[_Pattern, ...]:
    return tuple(_Pattern(e.get("kind", default_kind), re.compile(e["regex"]), e["source"]) for e in entries)


_PINNED_KINDS = ("dated", "versioned")


def _day(value: Any, where: str) -> str:
    """An ISO date or "" (not published); anything else is a broken catalog, refused at load."""
    if value in ("", None):
        return ""
    try:
        return date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise ConfigError(f"provider catalog: {where} = {value!r} is not an ISO date") from None


def _lifecycle(key: str, model: str, raw: dict[str, Any]) -> Lifecycle:
    where = f"{key} {model}"
    return Lifecycle(
        deprecated_on=_day(raw.get("deprecated-on"), f"{where} deprecated-on"),
        retires_on=_day(raw.get("retires-on"), f"{where} retires-on"),
        replacement=raw.get("replacement", ""),
        source=raw["source"],
        undated=bool(raw.get("undated", False)),
    )


def _pinned_ids(raw: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """``pinned-ids``, plus lifecycle entries that say which kind of fixed ID they are (``kind``)."""
    ids = {k: (v["kind"], v["source"]) for k, v in raw.get("pinned-ids", {}).items()}
    for model, entry in raw.get("models", {}).items():
        kind = entry.get("kind")
        if kind is None:
            continue
        if kind not in _PINNED_KINDS:
            raise ConfigError(f"provider catalog: {model} has kind {kind!r}; use one of {_PINNED_KINDS}")
        ids.setdefault(model, (kind, entry["source"]))
    return ids


def _scope(key: str, raw: dict[str, Any]) -> _Scope:
    return _Scope(
        key=key,
        source=raw["source"],
        dateless=raw["dateless"],
        shape=re.compile(raw["shape"]) if "shape" in raw else None,
        pinned_patterns=_compile(raw.get("pinned-patterns", []), "dated"),
        floating_patterns=_compile(raw.get("floating-patterns", []), "alias"),
        pinned_ids=_pinned_ids(raw),
        aliases={k: (v["resolves-to"] or "", v["source"]) for k, v in raw.get("aliases", {}).items()},
        models={k: _lifecycle(key, k, v) for k, v in raw.get("models", {}).items()},
    )


def parse_catalog(text: str) -> Catalog:
    """Parse catalog JSON text (the packaged file, or a test's)."""
    raw = json.loads(text)
    if raw.get("catalog-version") != 1:
        raise ConfigError(f"provider catalog has unknown catalog-version {raw.get('catalog-version')!r}")
    return Catalog(
        as_of=date.fromisoformat(raw["as-of"]),
        stale_after_days=int(raw["stale-after-days"]),
        scopes={key: _scope(key, value) for key, value in raw["scopes"].items()},
    )


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """The catalog shipped with modelguard."""
    text = resources.files("modelguard.providers").joinpath("catalog.json").read_text(encoding="utf-8")
    return parse_catalog(text)
