"""OpenRouter ``GET /api/v1/models``: each model's ``id`` and ``canonical_slug``.

``canonical_slug`` is the permanent slug of the model a (possibly moving) ``id`` serves, e.g.
``id = "openai/gpt-4o"`` with ``canonical_slug = "openai/gpt-4o-2024-05-13"``. The key is optional.
"""

from __future__ import annotations

from typing import Any

from modelguard.providers._http import get_json
from modelguard.providers.interface import RemoteModel


class OpenRouterModels:
    name = "openrouter"
    resolves_aliases = True
    docs_url = "https://openrouter.ai/docs/api-reference/list-available-models"

    def __init__(self, base_url: str, key: str) -> None:
        self._base = base_url
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._models: list[dict[str, Any]] | None = None

    def retrieve(self, model: str) -> RemoteModel | None:
        if self._models is None:
            body = get_json(self.name, f"{self._base}/models", self._headers)
            data = body.get("data") if isinstance(body, dict) else None
            self._models = [m for m in data or [] if isinstance(m, dict) and isinstance(m.get("id"), str)]
        for m in self._models:
            if model in (m["id"], m.get("canonical_slug")):
                slug = m.get("canonical_slug")
                return RemoteModel(id=slug if isinstance(slug, str) and slug else m["id"], aliases=(m["id"],))
        return None
