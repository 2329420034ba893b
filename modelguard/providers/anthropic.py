"""Anthropic ``GET /v1/models/{model_id}``: accepts an ID or an alias and returns the model ID.

Response: ``{"type": "model", "id", "display_name", "created_at", ...}``. Asking for an alias
(``claude-sonnet-4-5``) returns the snapshot it currently points to, which is what lock pins.
"""

from __future__ import annotations

from urllib.parse import quote

from modelguard.providers._http import get_json
from modelguard.providers.interface import RemoteModel

API_VERSION = "2023-06-01"


class AnthropicModels:
    name = "anthropic"
    resolves_aliases = True
    docs_url = "https://docs.anthropic.com/en/api/models"

    def __init__(self, base_url: str, key: str) -> None:
        self._base = base_url
        self._headers = {"x-api-key": key, "anthropic-version": API_VERSION}

    def retrieve(self, model: str) -> RemoteModel | None:
        body = get_json(self.name, f"{self._base}/models/{quote(model, safe='')}", self._headers)
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            return None
        return RemoteModel(id=body["id"])
