"""What every provider metadata client returns, and where its key and base URL come from.

Owns the small contract between :mod:`modelguard.providers.resolve` / ``lifecycle`` and the
per-provider modules (``openai``, ``anthropic``, ``mistral``, ``gemini``, ``openrouter``).
Keys are read from the environment at call time and never stored, logged or put in messages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from modelguard.errors import AccessDeniedError, UsageError
from modelguard.report.redact import register
from modelguard.spec.ids import secret_problem


@dataclass(frozen=True)
class RemoteModel:
    """A model as the provider's metadata API describes it now."""

    id: str
    """the canonical ID the provider returns for what was asked (an alias resolves to its target)"""
    aliases: tuple[str, ...] = ()
    deprecated_on: str = ""
    retires_on: str = ""
    replacement: str = ""


class ModelsAPI(Protocol):
    name: str
    resolves_aliases: bool
    """True when the API answers an alias with the snapshot it points to (Anthropic, Mistral, OpenRouter)"""
    docs_url: str
    """the public reference of the endpoint, recorded as ``source`` (never the base URL in use)"""

    def retrieve(self, model: str) -> RemoteModel | None:
        """The model ``model`` names, or None when the provider says it does not exist."""
        ...


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    key_env: tuple[str, ...]
    key_required: bool = True

    def key(self, provider: str) -> str:
        for name in self.key_env:
            value = os.environ.get(name, "").strip()
            if not value:
                continue
            problem = secret_problem(value)
            if problem:
                # Said without the value: a pasted secret must not reach the terminal or a CI log.
                raise UsageError(f"{provider}: {name} {problem}, so it is not an API key; set it to the key alone "
                                 "(printable ASCII, no spaces or line breaks)")
            register(value)  # from now on never written or shown (modelguard.report.redact)
            return value
        if not self.key_required:
            return ""
        names = " or ".join(self.key_env)
        raise AccessDeniedError(
            f"{provider}: no API key: set {names} to resolve provider models online (or lock without --online)"
        )


DEFAULTS: dict[str, Endpoint] = {
    "openai": Endpoint("https://api.openai.com/v1", ("OPENAI_API_KEY",)),
    "anthropic": Endpoint("https://api.anthropic.com/v1", ("ANTHROPIC_API_KEY",)),
    "gemini": Endpoint("https://generativelanguage.googleapis.com/v1beta", ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
    "mistral": Endpoint("https://api.mistral.ai/v1", ("MISTRAL_API_KEY",)),
    "openrouter": Endpoint("https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",), key_required=False),
}


def base_url(provider: str, overrides: Mapping[str, str] | None) -> str:
    """``base_urls`` argument, else ``MODELGUARD_<PROVIDER>_BASE_URL``, else the public endpoint."""
    if overrides and overrides.get(provider):
        return overrides[provider].rstrip("/")
    env = os.environ.get(f"MODELGUARD_{provider.upper()}_BASE_URL", "").strip()
    return (env or DEFAULTS[provider].base_url).rstrip("/")


def client_for(provider: str, overrides: Mapping[str, str] | None = None) -> ModelsAPI | None:
    """The metadata client for ``provider`` on its own API, or None when it has none."""
    if provider not in DEFAULTS:
        return None
    url = base_url(provider, overrides)
    key = DEFAULTS[provider].key(provider)
    if provider == "openai":
        from modelguard.providers.openai import OpenAIModels

        return OpenAIModels(url, key)
    if provider == "anthropic":
        from modelguard.providers.anthropic import AnthropicModels

        return AnthropicModels(url, key)
    if provider == "mistral":
        from modelguard.providers.mistral import MistralModels

        return MistralModels(url, key)
    if provider == "gemini":
        from modelguard.providers.gemini import GeminiModels

        return GeminiModels(url, key)
    from modelguard.providers.openrouter import OpenRouterModels

    return OpenRouterModels(url, key)
