"""modelguard's own files as ``lint`` meets them: a manifest, a lockfile, a shared policy file.

``lint`` looks for model IDs in application code. modelguard's own TOML files name model IDs too,
but in them a floating alias is the lock's business (``lock`` pins it, ``verify`` reports what it
pinned) and an entry the lockfile lacks is ``lock --check``'s. Linting them as code made the
``modelguard-lint`` pre-commit hook fail on every repository that follows the README, because
pre-commit names ``modelguard.toml`` explicitly.

So a file is recognised by its content, whatever its name (a renamed manifest, an org policy file,
a lockfile passed by hand) and checked only for what nobody else reports before ``verify``: a
``[[provider-model]]`` whose model ID the provider deprecated or retired (MG-P203 / MG-P204).
Recognition is an allowlist of shapes, each unmistakable: a lockfile has ``lock-version`` and
``manifest-sha256``; a manifest has ``[[provider-model]]``, ``[[hf-model]]``, ``policy-file`` or a
``[policy]`` table of policy keys; a policy file has nothing but policy keys. Text that is not
TOML, or TOML of another shape, is not ours, and ``lint`` reads it as code like any other file.
Pure: works on text it is given; no I/O, no network; never raises for a file it cannot place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from modelguard.models import Finding
from modelguard.providers.catalog import PROVIDER_NAMES, Catalog
from modelguard.providers.lifecycle import lifecycle_findings
from modelguard.spec.limits import OverBudget
from modelguard.spec.policy import POLICY_KEYS
from modelguard.spec.tomlsource import key_lines, loads
from modelguard.spec.types import Policy

MANIFEST = "modelguard-manifest"
LOCKFILE = "modelguard-lockfile"
POLICY_FILE = "modelguard-policy"

# per entry, the key holding the model ID the application calls: the manifest's request, the lock's pin
_ID_KEYS = {MANIFEST: "model", LOCKFILE: "resolved"}


@dataclass(frozen=True)
class OwnFile:
    """A file recognised as modelguard's own: its kind and its parsed content."""

    kind: str
    data: dict[str, Any]


def recognise(text: str) -> OwnFile | None:
    """The kind of modelguard file ``text`` is, or None when it is not one."""
    try:
        key_lines(text)  # a file shaped to hurt a parser (nesting, dotted keys, a huge line) is none of ours
        data = loads(text)  # the reader modelguard itself reads these files with
    except (ValueError, OverBudget):  # TomlSyntaxError is a ValueError
        return None
    if not data:
        return None
    if "lock-version" in data and "manifest-sha256" in data:
        return OwnFile(LOCKFILE, data)
    # nothing but policy (a shared policy-file, or a manifest with no models yet): it names no model
    if set(data) <= POLICY_KEYS or (set(data) == {"policy"} and _is_policy(data["policy"])):
        return OwnFile(POLICY_FILE, data)
    if _is_manifest(data):
        return OwnFile(MANIFEST, data)
    return None


def _is_policy(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= POLICY_KEYS


def _tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _is_manifest(data: dict[str, Any]) -> bool:
    if _tables(data.get("provider-model")) or _tables(data.get("hf-model")):
        return True
    if isinstance(data.get("policy-file"), str):
        return True
    return _is_policy(data.get("policy"))


def own_findings(own: OwnFile, text: str, path: str, catalog: Catalog, policy: Policy,
                 today: date) -> list[Finding]:
    """MG-P203 / MG-P204 for the model IDs of a manifest's or lockfile's ``[[provider-model]]``, and the
    findings about a policy that says one thing and does another (MG-P016..P029) in a manifest or policy file."""
    out: list[Finding] = _policy_findings(own, text, path)
    key = _ID_KEYS.get(own.kind)
    entries = own.data.get("provider-model")
    if key is None or not isinstance(entries, list):
        return out
    lines = key_lines(text)
    for index, entry in enumerate(entries):
        model = entry.get(key) if isinstance(entry, dict) else None
        if not isinstance(model, str):
            continue
        where = lines.get(f"provider-model[{index}].{key}", 0)
        out.extend(_lifecycle(entry, model, catalog, policy, today, f"line {where}" if where else "", path))
    return out


def _policy_findings(own: OwnFile, text: str, path: str) -> list[Finding]:
    """The policy's own consistency findings; a file modelguard would refuse is `lock`'s to report (exit 2)."""
    from modelguard.errors import ModelguardError
    from modelguard.spec.policy import parse_policy, policy_findings
    from modelguard.spec.tomlsource import Table, parse_toml

    if own.kind not in (MANIFEST, POLICY_FILE):
        return []
    try:
        data, lines = parse_toml(text, path)
        root = Table(data, "", path, lines)
        table = root.table("policy") if "policy" in data else (root if own.kind == POLICY_FILE else None)
        return policy_findings(parse_policy(table)) if table is not None else []
    except ModelguardError:
        return []


def _lifecycle(entry: dict[str, Any], model: str, catalog: Catalog, policy: Policy, today: date,
               location: str, path: str) -> list[Finding]:
    provider = PROVIDER_NAMES.get(str(entry.get("provider", "")).strip().lower())
    platform = str(entry.get("platform", "api"))
    if provider is None:
        # an unknown provider is a manifest error `lock` reports with its line; the ID may still be one we know
        guessed = catalog.guess(model)
        if guessed is None:
            return []
        provider, platform = guessed
    life = catalog.lifecycle(provider, platform, model)
    if life is None:
        target = catalog.classify(provider, platform, model).resolves_to
        life = catalog.lifecycle(provider, platform, target) if target else None
    if life is None:
        return []
    return lifecycle_findings(model, life, policy, today, location=location, path=path)
