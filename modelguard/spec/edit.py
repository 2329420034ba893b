"""Edit ``modelguard.toml`` the way ``uv add`` edits pyproject.toml: keep every comment and the layout.

Owns the starting manifest ``modelguard init`` writes (:func:`starting_manifest`), and the text
transforms behind ``modelguard add`` / ``remove``: append one ``[[hf-model]]`` or ``[[provider-model]]``
table after the last table of its kind (:func:`with_hf_model`, :func:`with_provider_model`) or drop
one entry by name (:func:`without_entry`). Edits go through tomlkit, as the revoke path's policy edit
does, so comments, blank lines and key order elsewhere stay byte-for-byte; every edited text is parsed
again with :func:`modelguard.spec.manifest.parse_manifest`, so an edit can never produce a manifest
modelguard would refuse.

Pure: text in, text out. Reading, writing (atomically) and locking belong to
:mod:`modelguard.flows.edit`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import AoT, Table

from modelguard.errors import ConfigError, UsageError
from modelguard.spec import filenames, ids
from modelguard.spec.manifest import parse_manifest

__all__ = ["SEED_ORGS", "default_name", "starting_manifest", "with_hf_model", "with_provider_model",
           "without_entry"]

SEED_ORGS = ("mistralai", "google", "meta-llama", "Qwen", "zai-org", "microsoft", "nvidia")
"""The organisations whose models most teams already trust: a starting list to edit, not a default."""

_NOT_NAME = re.compile(r"[^A-Za-z0-9._-]+")

_STARTING = '''\
# modelguard.toml: the models this project uses, and the policy every one must pass.
# Written by `modelguard init`. Add models with `modelguard add ORG/NAME` (Hugging Face) or
# `modelguard add --provider openai gpt-4o`; each add locks them into modelguard.lock (commit both).
# Every key, with its default, is described in lockfiles/FORMAT.md of the modelguard source.

[policy]
# Orgs whose models may be locked: exact and case-sensitive, every other org is refused before any
# download. A starting list to edit: keep only the publishers you trust.
allowed-orgs = [{orgs}]
require-safetensors = true        # pickle-family weights (.bin, .pt, .pkl, ...) are a finding
trust-remote-code = "deny"        # custom *.py / auto_map code is refused; "allow-pinned" + pins to allow
fail-on = "medium"                # lowest severity that makes fetch, verify and scan fail

# To allow reviewed custom code, set trust-remote-code = "allow-pinned" and pin each file:
# [[policy.remote-code]]
# repo = "org/model"
# files = {{ "modeling_x.py" = "<sha256 of the reviewed file>" }}

# Models: `modelguard add` appends entries like these.
# [[hf-model]]
# name = "embedder"                        # the handle your code uses
# repo = "sentence-transformers/all-MiniLM-L6-v2"
# revision = "main"                        # branch, tag or commit; the lock pins a commit
# include = ["*.safetensors", "*.json"]    # optional globs; default: every file
#
# [[provider-model]]
# name = "chat"
# provider = "openai"
# model = "gpt-4o"                         # the lock pins it to a dated snapshot
'''


def starting_manifest(orgs: Sequence[str] = SEED_ORGS) -> str:
    """The commented manifest ``modelguard init`` writes: a starting policy and examples to copy."""
    text = _STARTING.format(orgs=", ".join(f'"{o}"' for o in orgs))
    parse_manifest(text)  # what init writes must be a manifest modelguard accepts
    return text


def default_name(model: str) -> str:
    """An entry name from a repo id or model ID: its last part, with what a name cannot hold made ``-``."""
    last = model.rstrip("/").rsplit("/", 1)[-1]
    name = _NOT_NAME.sub("-", last).strip("-._") or "model"
    return name[:128]


def with_hf_model(text: str, *, name: str, repo: str, revision: str = "main", include: Sequence[str] = (),
                  exclude: Sequence[str] = (), source: str = filenames.MANIFEST) -> str:
    """``text`` with one ``[[hf-model]]`` appended; raises when the result would not be a valid manifest."""
    problem = ids.repo_id_problem(repo)
    if problem:
        raise UsageError(f"{repo!r} {problem}; write the Hub id as ORG/NAME[@REVISION], e.g. google/gemma-2b")
    doc = _parse(text, source)
    _refuse_duplicate(doc, name, source)
    for entry in _entries(doc, "hf-model"):
        if entry.get("repo") == repo and entry.get("revision", "main") == revision:
            raise UsageError(f"{repo}@{revision} is already in {source} as {entry.get('name')!r}; "
                             f"`modelguard lock --upgrade {entry.get('name')}` re-resolves it")
    table = tomlkit.table()
    table.append("name", name)
    table.append("repo", repo)
    table.append("revision", revision)
    if include:
        table.append("include", list(include))
    if exclude:
        table.append("exclude", list(exclude))
    return _checked(_append(doc, "hf-model", table), source)


def with_provider_model(text: str, *, name: str, provider: str, model: str,
                        source: str = filenames.MANIFEST) -> str:
    """``text`` with one ``[[provider-model]]`` appended; raises when the result would not be valid."""
    doc = _parse(text, source)
    _refuse_duplicate(doc, name, source)
    for entry in _entries(doc, "provider-model"):
        if entry.get("provider") == provider and entry.get("model") == model:
            raise UsageError(f"{provider} {model} is already in {source} as {entry.get('name')!r}")
    table = tomlkit.table()
    table.append("name", name)
    table.append("provider", provider)
    table.append("model", model)
    return _checked(_append(doc, "provider-model", table), source)


def without_entry(text: str, name: str, *, source: str = filenames.MANIFEST) -> tuple[str, str]:
    """(``text`` without the entry named ``name``, the kind it was: ``hf-model`` or ``provider-model``)."""
    doc = _parse(text, source)
    for kind in ("hf-model", "provider-model"):
        aot = doc.get(kind)
        if not isinstance(aot, AoT):
            continue
        for index, entry in enumerate(aot):
            if entry.get("name") == name:
                del aot[index]
                if not len(aot):
                    del doc[kind]
                return _checked(tomlkit.dumps(doc), source), kind
    names = sorted(str(e.get("name")) for kind in ("hf-model", "provider-model") for e in _entries(doc, kind))
    listed = f"; the entries are: {', '.join(names)}" if names else f"; {source} lists no model"
    raise UsageError(f"no entry named {name!r} in {source}{listed}")


# --- helpers ----------------------------------------------------------------------------------


def _parse(text: str, source: str) -> tomlkit.TOMLDocument:
    parse_manifest(text, source=source)  # refuse to edit what modelguard would refuse to read
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as e:  # pragma: no cover - parse_manifest already refused it
        raise ConfigError(f"{source}: not valid TOML ({e})") from None


def _entries(doc: tomlkit.TOMLDocument, kind: str) -> list[Any]:
    aot = doc.get(kind)
    return list(aot) if isinstance(aot, AoT) else []


def _refuse_duplicate(doc: tomlkit.TOMLDocument, name: str, source: str) -> None:
    problem = ids.entry_name_problem(name)
    if problem:
        raise UsageError(f"--name {name!r} {problem}")
    for kind in ("hf-model", "provider-model"):
        if any(e.get("name") == name for e in _entries(doc, kind)):
            raise UsageError(f"{source} already has an entry named {name!r}; pass --name to choose another")


def _append(doc: tomlkit.TOMLDocument, kind: str, table: Table) -> str:
    """Append ``table`` to the array of tables ``kind`` (created at the end of the document when absent)."""
    aot = doc.get(kind)
    if isinstance(aot, AoT):
        # One blank line between tables: after the one that was last, and after the new one (trimmed at
        # the end of the file), so the next table keeps its distance too.
        if len(aot) and not aot[-1].as_string().endswith("\n\n"):
            aot[-1].add(tomlkit.nl())
        table.add(tomlkit.nl())
        aot.append(table)
        return tomlkit.dumps(doc)
    if aot is not None:
        raise ConfigError(f"{kind} must be an array of tables ([[{kind}]])")
    # A new array goes at the very end, after one blank line, whatever the file ended with.
    body = tomlkit.dumps(doc).rstrip("\n")
    addition = tomlkit.document()
    addition.append(kind, tomlkit.aot())
    addition[kind].append(table)
    return (body + "\n\n" if body else "") + tomlkit.dumps(addition).lstrip("\n")


def _checked(text: str, source: str) -> str:
    text = text.rstrip("\n") + "\n"
    parse_manifest(text, source=source)
    return text
