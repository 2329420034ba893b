"""The only door to the network for models: the Hugging Face Hub.

* :mod:`~modelguard.hub.client` — resolve a revision, list files, download into a staging folder
  modelguard owns, compare with the lock (``verify --remote``).
* :mod:`~modelguard.hub.session` — making a client, the headers sent, one retried JSON GET, and the
  mapping of every huggingface_hub failure onto :mod:`modelguard.errors`. With ``client`` and ``warm``,
  the only modules that import ``huggingface_hub`` (its public API only).
* :mod:`~modelguard.hub.warm` — huggingface_hub imported with its settings, and a head start on
  it for ``fetch`` (standard library only at import).
* :mod:`~modelguard.hub.metadata` — what the Hub says, validated and compared (pure).
* :mod:`~modelguard.hub.transport` — how modelguard talks to it: timeouts, retries, waits the
  server asks for, which HTTP status becomes which error (pure).
* :mod:`~modelguard.hub.pace` — slow is a fault: one transfer's deadline and minimum rate (pure).

This package's ``__init__`` imports nothing: importing the pure modules must not pull in
``huggingface_hub`` (start-up time of every command that needs no network).
"""
