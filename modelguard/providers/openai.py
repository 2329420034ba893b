"""OpenAI ``GET /v1/models/{model}``: confirms that a model ID exists.

The response (``{"id", "object": "model", "created", "owned_by"}``) does not say what an
alias points to, so aliases are resolved from the catalog and only confirmed here.
"""

from __future__ import annotations

from urllib.parse import quote

from modelguard.providers._http import get_json
from modelguard.providers.interface import RemoteModel


class OpenAIModels:
    name = "openai"
    resolves_aliases = False
    docs_url = "https://platform.openai.com/docs/api-reference/models/retrieve"

    def __init__(self, base_url: str, key: str) -> None:
        self._base = base_url
        self._headers = {"Authorization": f"Bearer {key}"}

    def retrieve(self, model: str) -> RemoteModel | None:
        body = get_json(self.name, f"{self._base}/models/{quote(model, safe='')}", self._headers)
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            return None
        return RemoteModel(id=body["id"])
