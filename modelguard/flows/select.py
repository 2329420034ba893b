"""One model at a time: the part of a lockfile that ``fetch NAME...`` and ``verify NAME...`` act on.

A name is a lock entry's ``name``, or a repo id locked once (as :func:`modelguard.api.snapshot`
takes it). Entries that pin the same ``repo@commit`` as a named one come along: they share one
snapshot folder and one admission record, so they are fetched and checked together, never half.

Fail closed: a name the lockfile does not pin is a :class:`~modelguard.errors.NotLockedError`
(exit 2) before any work, never an empty, passing run. Pure: works on a parsed lockfile.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from modelguard.errors import NotLockedError, UsageError
from modelguard.spec import filenames
from modelguard.spec.types import LockedHFModel, LockedProviderModel, Lockfile


def select(lockfile: Lockfile, names: Sequence[str], *, where: str | os.PathLike[str] = filenames.LOCKFILE,
           providers: bool = True) -> Lockfile:
    """The entries of ``lockfile`` that ``names`` ask for (all of it when ``names`` is empty).

    ``providers``: whether a ``[[provider-model]]`` name is a valid choice (verify) or not (fetch,
    which downloads only ``[[hf-model]]`` entries).
    """
    if not names:
        return lockfile
    hf: list[LockedHFModel] = []
    provider: list[LockedProviderModel] = []
    for name in dict.fromkeys(names):
        chosen = next((p for p in lockfile.provider_models if p.name == name), None)
        if chosen is not None:
            if not providers:
                raise UsageError(f"{name} is a [[provider-model]] in {os.fspath(where)}: there is nothing to download "
                                 "for it; `modelguard verify NAME` checks its pin")
            provider.append(chosen)
            continue
        hf.append(find_entry(lockfile, name, where, providers=True))
    pinned = {(m.repo, m.commit) for m in hf}
    # Everything sharing a named entry's snapshot comes along, in lockfile order.
    hf_models = tuple(m for m in lockfile.hf_models if (m.repo, m.commit) in pinned)
    provider_models = tuple(p for p in lockfile.provider_models if p in provider)
    return replace(lockfile, hf_models=hf_models, provider_models=provider_models)


def find_entry(lockfile: Lockfile, name: str, where: str | os.PathLike[str] = filenames.LOCKFILE, *,
               providers: bool = False) -> LockedHFModel:
    """The ``[[hf-model]]`` named ``name``, else the only one locking that repo (snapshot() and
    ``fetch``/``verify NAME`` find entries alike). ``providers``: whether provider-model names are
    valid choices too, so the error lists them among what is locked."""
    by_name = [m for m in lockfile.hf_models if m.name == name]
    if by_name:
        return by_name[0]
    by_repo = [m for m in lockfile.hf_models if m.repo == name]
    if len(by_repo) == 1:
        return by_repo[0]
    if by_repo:
        names = ", ".join(sorted(m.name for m in by_repo))
        raise UsageError(f"{name} is locked {len(by_repo)} times in {os.fspath(where)} ({names}); ask for one by name")
    candidates = [m.name for m in lockfile.hf_models] + [p.name for p in lockfile.provider_models if providers]
    what = "a model" if providers else "an [[hf-model]]"
    raise NotLockedError(f"{name!r} is not {what} name or repo in {os.fspath(where)} "
                         f"(locked: {', '.join(sorted(candidates)) or 'none'}); "
                         f"add it to {filenames.MANIFEST} and run `modelguard lock`")
