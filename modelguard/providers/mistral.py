"""Mistral ``GET /v1/models``: the model list, each card with ``aliases`` and ``deprecation``.

A card is ``{"id", "object": "model", "aliases": [...], "deprecation": <datetime|null>,
"deprecation_replacement_model": <str|null>, ...}``. An alias is resolved to the dated card
(``-YYMM``) that lists it; ``deprecation`` is the date the model stops being served.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from modelguard.errors import HubUnreachableError
from modelguard.providers._http import get_json
from modelguard.providers.interface import RemoteModel

_DATED = re.compile(r"-\d{2}(0[1-9]|1[0-2])$")


class MistralModels:
    name = "mistral"
    resolves_aliases = True
    docs_url = "https://docs.mistral.ai/api/#tag/models/operation/list_models_v1_models_get"

    def __init__(self, base_url: str, key: str) -> None:
        self._base = base_url
        self._headers = {"Authorization": f"Bearer {key}"}
        self._cards: list[dict[str, Any]] | None = None

    def _list(self) -> list[dict[str, Any]]:
        if self._cards is None:
            body = get_json(self.name, f"{self._base}/models", self._headers)
            data = body.get("data") if isinstance(body, dict) else None
            self._cards = [c for c in data or [] if isinstance(c, dict) and isinstance(c.get("id"), str)]
        return self._cards

    def retrieve(self, model: str) -> RemoteModel | None:
        cards = [c for c in self._list() if c["id"] == model or model in (c.get("aliases") or [])]
        if not cards:
            return None
        names = {c["id"] for c in cards} | {a for c in cards for a in (c.get("aliases") or []) if isinstance(a, str)}
        dated = sorted(n for n in names if _DATED.search(n))
        if _DATED.search(model):
            target = model
        elif len(dated) == 1:
            target = dated[0]
        else:
            target = model  # unresolved: the caller sees an alias come back and treats it as floating
        card = next((c for c in self._list() if c["id"] == target), cards[0])
        deprecation = card.get("deprecation")
        replacement = card.get("deprecation_replacement_model")
        retires_on = ""
        if deprecation is not None:
            try:
                retires_on = date.fromisoformat(str(deprecation)[:10]).isoformat()
            except ValueError:
                raise HubUnreachableError(
                    f"mistral: models API sent an unreadable deprecation date for {target}"
                ) from None
        return RemoteModel(
            id=target,
            aliases=tuple(sorted(names - {target})),
            retires_on=retires_on,
            replacement=replacement if isinstance(replacement, str) else "",
        )
