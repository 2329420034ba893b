"""``modelguard.toml`` -> :class:`~modelguard.spec.types.Manifest`: what the user wants, validated.

Owns the manifest's keys, their validation (errors name the file, the line and the fix; exit 2),
the include/exclude glob semantics (:func:`selects`), and the canonical hashes the lockfile
uses to tell whether it is stale (:func:`spec_sha256`, ``Manifest.sha256``). Pure apart from
reading the manifest and its policy file; must not import hub, cache or scanners.

Glob semantics (same as huggingface_hub's ``allow_patterns``): a pattern is matched
case-sensitively with :func:`fnmatch.fnmatchcase` against the whole repo-relative POSIX path,
so ``*`` also crosses ``/`` (``*.json`` matches ``sub/config.json``); a pattern ending in ``/``
matches everything under that folder. A file is kept when ``include`` is empty or one include
pattern matches, and no ``exclude`` pattern matches.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, replace
from typing import Any

from modelguard.errors import ConfigError
from modelguard.spec import filenames, ids, limits
from modelguard.spec.policy import DEFAULT_POLICY, load_policy_file, parse_policy
from modelguard.spec.tomlsource import Table, canonical_sha256, parse_toml, read_text, relative_to
from modelguard.spec.types import HFModelSpec, Manifest, MirrorSpec, Policy, ProviderModelSpec

MANIFEST_KEYS = frozenset({"policy", "policy-file", "hf-model", "provider-model", "mirror", "fetch"})
FETCH_KEYS = frozenset({"max-workers"})
MAX_WORKERS = 64
"""the most connections one fetch may open at once (``[fetch] max-workers``, ``--max-workers``)"""
MIRROR_KEYS = frozenset({"url", "plain-http", "fallback"})
MIRROR_FALLBACKS = ("hub", "none")
HF_MODEL_KEYS = frozenset({"name", "repo", "revision", "include", "exclude"})
PROVIDER_MODEL_KEYS = frozenset({"name", "provider", "model", "platform", "deployment", "region"})


def load_manifest(path: str) -> Manifest:
    """Read and validate the manifest at ``path`` (and its ``policy-file``, if any)."""
    return parse_manifest(read_text(path), source=path)


def parse_manifest(text: str, *, source: str = filenames.MANIFEST) -> Manifest:
    """Validate manifest ``text``; ``source`` names it in errors and anchors relative policy files."""
    data, lines = parse_toml(text, source)
    root = Table(data, "", source, lines)
    root.check_keys(MANIFEST_KEYS)
    policy = _policy(root)
    entries = len(root.tables("hf-model")) + len(root.tables("provider-model"))
    if entries > limits.active().models:
        raise ConfigError(limits.over(limits.BUDGETS.models, f"{source}: {entries} models"), rule="MG-L022")
    hf_models = tuple(_hf_model(t) for t in root.tables("hf-model"))
    provider_models = tuple(_provider_model(t) for t in root.tables("provider-model"))
    _check_unique_names(root, hf_models, provider_models)
    manifest = Manifest(path=source, hf_models=hf_models, provider_models=provider_models, policy=policy,
                        mirror=_mirror(root), max_workers=_max_workers(root))
    return replace(manifest, sha256=manifest_sha256(manifest))


def manifest_sha256(manifest: Manifest) -> str:
    """Hash of what the manifest asks for: every model entry (by name).

    Comments, whitespace, entry order and the manifest's path do not count; any change of a
    model entry does, so ``lock --check`` reports the lock stale until ``modelguard lock``
    records the change.

    The policy is deliberately left out: it is recorded separately (``policy-sha256``) and
    ``fetch``/``verify`` always evaluate the policy in force *now* (re-scanning when it differs
    from the one recorded at admission). Counting it here would make every edit of an org-wide
    ``policy-file`` — a revocation during an incident, above all — break every repository's
    gate as "stale" until each one re-locks, which pins nothing new.
    """
    return canonical_sha256({
        "hf-model": sorted(spec_sha256(s) for s in manifest.hf_models),
        "provider-model": sorted(spec_sha256(s) for s in manifest.provider_models),
    })


def spec_sha256(spec: HFModelSpec | ProviderModelSpec) -> str:
    """Hash of one entry's content (not its line): an entry whose hash is unchanged keeps its pin."""
    content: dict[str, Any] = asdict(spec)
    del content["line"]
    content["kind"] = "hf-model" if isinstance(spec, HFModelSpec) else "provider-model"
    return canonical_sha256(content)


def selects(spec: HFModelSpec, path: str) -> bool:
    """Whether ``spec``'s include/exclude keep the repo file ``path`` (see the module docstring)."""
    if spec.include and not any(_match(path, p) for p in spec.include):
        return False
    return not any(_match(path, p) for p in spec.exclude)


def _match(path: str, pattern: str) -> bool:
    if pattern.endswith("/"):
        pattern += "*"
    return fnmatch.fnmatchcase(path, pattern)


# --- readers --------------------------------------------------------------------------------


def _policy(root: Table) -> Policy:
    inline = root.table("policy")
    if "policy-file" in root.data:
        if inline is not None:
            raise root.error("policy-file", "use either [policy] or policy-file, not both")
        relative = root.string("policy-file", required=True)
        return load_policy_file(relative_to(root.source, relative))
    if inline is None:
        return DEFAULT_POLICY
    return parse_policy(inline)


def _mirror(root: Table) -> MirrorSpec | None:
    t = root.table("mirror")
    if t is None:
        return None
    t.check_keys(MIRROR_KEYS)
    url = t.string("url", required=True)
    from modelguard.mirror.reference import location_problem

    problem = location_problem(url)
    if problem:
        raise t.error("url", f"{url!r} {problem}; write oci://HOST[:PORT]/NAMESPACE")
    fallback = t.string("fallback", "hub")
    if fallback not in MIRROR_FALLBACKS:
        raise t.error("fallback", f"{fallback!r} is not one of \"hub\" (fetch what the mirror lacks from the Hub) "
                                  "or \"none\" (never contact the Hub)")
    return MirrorSpec(url=url, plain_http=t.boolean("plain-http", False), fallback=fallback, line=t.line())


def _max_workers(root: Table) -> int | None:
    """``[fetch] max-workers``: how many connections a fetch opens at once (how, never what: not hashed)."""
    t = root.table("fetch")
    if t is None:
        return None
    t.check_keys(FETCH_KEYS)
    if "max-workers" not in t.data:
        return None
    workers = t.integer("max-workers", 0, minimum=1)
    if workers > MAX_WORKERS:
        raise t.error("max-workers", f"{workers} is more than {MAX_WORKERS} connections at once; a CDN gains nothing "
                                     "from more")
    return workers


def _hf_model(t: Table) -> HFModelSpec:
    t.check_keys(HF_MODEL_KEYS)
    name = _name(t)
    repo = t.string("repo", required=True)
    problem = ids.repo_id_problem(repo)
    if problem:
        raise t.error("repo", f"{repo!r} {problem}; write the Hub id, e.g. \"google/gemma-2b\"")
    revision = t.string("revision", "main")
    problem = ids.revision_problem(revision)
    if problem:
        raise t.error("revision", f"{revision!r} {problem}; use a branch, a tag or a 40-hex commit")
    return HFModelSpec(
        name=name,
        repo=repo,
        revision=revision,
        include=_globs(t, "include"),
        exclude=_globs(t, "exclude"),
        line=t.line(),
    )


def _provider_model(t: Table) -> ProviderModelSpec:
    t.check_keys(PROVIDER_MODEL_KEYS)
    return ProviderModelSpec(
        name=_name(t),
        provider=t.string("provider", required=True),
        model=t.string("model", required=True),
        platform=t.string("platform", "api") or "api",
        deployment=t.string("deployment"),
        region=t.string("region"),
        line=t.line(),
    )


def _name(t: Table) -> str:
    name = t.string("name", required=True)
    problem = ids.entry_name_problem(name)
    if problem:
        raise t.error("name", f"{name!r} {problem}")
    return name


def _globs(t: Table, key: str) -> tuple[str, ...]:
    patterns = t.strings(key)
    for pattern in patterns:
        problem = _glob_problem(pattern)
        if problem:
            raise t.error(key, f"glob {pattern!r} {problem}")
    return patterns


def _glob_problem(pattern: str) -> str | None:
    if not pattern:
        return "is empty"
    if pattern.startswith("/"):
        return "is absolute; paths are relative to the repo root (write 'onnx/*', not '/onnx/*')"
    if "\\" in pattern:
        return "contains a backslash; repo paths use '/'"
    if any(ord(c) < 0x20 for c in pattern):
        return "contains a control character"
    if ".." in pattern.split("/"):
        return "contains a '..' segment"
    depth = 0
    for c in pattern:
        if c == "[":
            if depth:
                return "has a '[' inside a character class"
            depth = 1
        elif c == "]" and depth:
            depth = 0
    if depth:
        return "has an unclosed '['"
    return None


def _check_unique_names(
    root: Table, hf_models: tuple[HFModelSpec, ...], provider_models: tuple[ProviderModelSpec, ...]
) -> None:
    seen: dict[str, int] = {}
    specs: list[HFModelSpec | ProviderModelSpec] = [*hf_models, *provider_models]
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(
                f"{root.source}:{spec.line}: duplicate name {spec.name!r} (first used on line {seen[spec.name]}); "
                "give every [[hf-model]] and [[provider-model]] a unique name"
            )
        seen[spec.name] = spec.line
