"""Hosted (provider) model IDs: pin floating aliases, track deprecation and retirement, lint code.

A short tour:

* :mod:`.catalog` + ``catalog.json`` — the dated, sourced facts: which IDs float, what they
  resolve to, pinned-ID patterns per provider/platform, lifecycle dates copied from each
  provider's deprecation page (page URL and copy date per fact). Pure.
* :mod:`.resolve` — :func:`lock_provider_models` (``modelguard lock``).
* :mod:`.lifecycle` — :func:`check_locked_provider_models` (``modelguard verify``).
* :mod:`.lint` — :func:`lint_paths` (``modelguard lint``): model IDs in application code;
  :mod:`.ownfiles` recognises modelguard's own manifest, lockfile and policy file by content and
  checks only the lifecycle of the models they name (aliases there are the lock's business).
* :mod:`.interface` and one module per provider API (``openai``, ``anthropic``, ``mistral``,
  ``gemini``, ``openrouter``), used only with ``--online`` / ``--remote``; :mod:`._http` is the
  only place that sends requests.

API keys come from the environment at call time and never reach a lockfile, report or message.
"""

from __future__ import annotations

from modelguard.providers.lifecycle import check_locked_provider_models
from modelguard.providers.resolve import lock_provider_models

__all__ = ["check_locked_provider_models", "lock_provider_models"]
