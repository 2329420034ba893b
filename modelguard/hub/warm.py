"""huggingface_hub, imported on first use with its settings (:func:`hf`), and a head start on it
(:func:`warm_up`) for the commands whose first request would otherwise wait for it.

Standard library only at import: ``modelguard fetch`` starts the warm-up before it imports the rest
of modelguard, so huggingface_hub's import and its HTTP client (an SSL context with the CA bundle,
made without the GIL) overlap modelguard's own start instead of following it (issue 15). With
:mod:`~modelguard.hub.session` and :mod:`~modelguard.hub.client`, the only modules that import
huggingface_hub.
"""

from __future__ import annotations

import os
import threading
from types import ModuleType

_started = threading.Event()


def hf() -> ModuleType:
    """huggingface_hub, imported on first use with telemetry off and Xet off (loopback Hubs lack it)."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
    import huggingface_hub

    return huggingface_hub


def warm_up() -> None:
    """Import huggingface_hub's HTTP layer and make its shared client in a daemon thread, once per process,
    while the caller imports, reads its lockfile and checks the cache. No request is made and no token
    read; whatever fails here fails again, and is reported, on first real use."""
    if _started.is_set():
        return
    _started.set()

    def work() -> None:
        try:
            # httpx's transport first: making the client then only loads the CA bundle, which runs
            # without the GIL beside the caller's last steps before its first request (measured: the
            # client is ready 15-40 ms sooner than when the transport is imported while it is made).
            import httpcore2  # noqa: F401

            hf()
            from huggingface_hub.utils import get_session

            get_session()
        except Exception:  # only a head start (see the docstring)
            return

    threading.Thread(target=work, name="modelguard-warm-up", daemon=True).start()
