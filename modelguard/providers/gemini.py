"""Gemini API ``GET /v1beta/models`` (paged by ``nextPageToken``): which model names exist.

Each entry is ``{"name": "models/gemini-2.0-flash-001", "baseModelId", "version", ...}``. The
list does not say which stable version an alias serves, so it only confirms existence. The key
goes in the ``x-goog-api-key`` header, never in the URL.
"""

from __future__ import annotations

from modelguard.providers._http import get_json
from modelguard.providers.interface import RemoteModel

MAX_PAGES = 50


class GeminiModels:
    name = "gemini"
    resolves_aliases = False
    docs_url = "https://ai.google.dev/api/models#method:-models.list"

    def __init__(self, base_url: str, key: str) -> None:
        self._base = base_url
        self._headers = {"x-goog-api-key": key}
        self._names: set[str] | None = None

    def _list(self) -> set[str]:
        if self._names is None:
            names: set[str] = set()
            token = ""
            for _ in range(MAX_PAGES):
                params = {"pageSize": "1000", **({"pageToken": token} if token else {})}
                body = get_json(self.name, f"{self._base}/models", self._headers, params)
                if not isinstance(body, dict):
                    break
                for entry in body.get("models") or []:
                    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                        names.add(entry["name"].removeprefix("models/"))
                token = body.get("nextPageToken") or ""
                if not isinstance(token, str) or not token:
                    break
            self._names = names
        return self._names

    def retrieve(self, model: str) -> RemoteModel | None:
        bare = model.removeprefix("models/")
        return RemoteModel(id=bare) if bare in self._list() else None
