"""Provider model IDs (placeholder until the providers work lands): refuses clearly, never guesses."""

from __future__ import annotations

from collections.abc import Sequence

from modelguard.errors import ConfigError
from modelguard.models import LockedProviderModel, Policy, ProviderModelSpec


def lock_provider_models(
    specs: Sequence[ProviderModelSpec],
    policy: Policy,
    existing: Sequence[LockedProviderModel] = (),
    *,
    online: bool = False,
) -> list[LockedProviderModel]:
    """Resolve each provider model to a pinned snapshot (keeping unchanged existing pins)."""
    if specs:
        raise ConfigError("[[provider-model]] entries are not supported yet; remove them from the manifest")
    return []
