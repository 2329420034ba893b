"""The trust policy: ``[policy]`` (or a shared ``policy-file``) -> :class:`~modelguard.spec.types.Policy`.

Owns parsing and validation of every policy key, the policy's canonical hash, and the org
allowlist check done at lock time (:func:`check_org`). Other policy rules (file types, remote
code, signatures, revocation) are evaluated by the commands that see the files; they read the
parsed :class:`Policy` from here. Pure apart from reading a policy file; must not import hub,
cache or scanner implementations.

Secure defaults: no org is allowed until ``allowed-orgs`` names it (``["*"]`` allows every org,
explicitly); remote code is denied; a suppression or safe global needs a reason.
"""

from __future__ import annotations

import datetime
import difflib
import re
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from modelguard.models import Finding, Severity
from modelguard.report.rules import RULES, finding
from modelguard.spec import ids
from modelguard.spec.tomlsource import Table, canonical_sha256, parse_toml, read_text
from modelguard.spec.types import HFModelSpec, Policy, RemoteCodePin, Revocation, SafeGlobal, Signer, Suppression

POLICY_KEYS = frozenset({
    "allowed-orgs", "denied-orgs", "require-safetensors", "trust-remote-code", "remote-code",
    "allowed-file-types", "max-file-size", "fail-on", "safe-globals", "allow-floating-aliases",
    "deprecation-window-days", "suppress", "signers", "require-signature", "revoked", "unknown-formats",
})
TRUST_REMOTE_CODE = ("deny", "allow-pinned")
UNKNOWN_FORMATS = ("inform", "fail")
SIGNER_ALGORITHMS = ("ed25519", "ecdsa-p256")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)
_UNITS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_RULE_ID = re.compile(r"^MG-[A-Z]\d{3}$")
_PEM_HEADER = "-----BEGIN PUBLIC KEY-----"


def load_policy_file(path: str) -> Policy:
    """Read a shared policy file: the ``[policy]`` keys at top level (or under one ``[policy]``)."""
    data, lines = parse_toml(read_text(path), path)
    root = Table(data, "", path, lines)
    if set(data) == {"policy"}:
        inner = root.table("policy")
        assert inner is not None
        return parse_policy(inner)
    return parse_policy(root)


def parse_policy(table: Table) -> Policy:
    """Validate a policy table and return the typed :class:`Policy` with its lines and hash."""
    table.check_keys(POLICY_KEYS)
    allowed = _orgs(table, "allowed-orgs", allow_star=True)
    denied = _orgs(table, "denied-orgs", allow_star=False)
    trust = table.string("trust-remote-code", "deny")
    if trust not in TRUST_REMOTE_CODE:
        raise table.error("trust-remote-code", f"must be one of {', '.join(map(repr, TRUST_REMOTE_CODE))}")
    unknown = table.string("unknown-formats", "inform")
    if unknown not in UNKNOWN_FORMATS:
        raise table.error("unknown-formats", f"must be one of {', '.join(map(repr, UNKNOWN_FORMATS))}")
    fail_on_text = table.string("fail-on", "medium")
    try:
        fail_on = Severity.parse(fail_on_text)
    except ValueError as e:
        raise table.error("fail-on", str(e)) from None
    policy = Policy(
        allowed_orgs=allowed,
        denied_orgs=denied,
        require_safetensors=table.boolean("require-safetensors", False),
        trust_remote_code=trust,
        remote_code=tuple(_remote_code(t) for t in table.tables("remote-code")),
        allowed_file_types=_file_types(table),
        max_file_size=_max_file_size(table),
        fail_on=fail_on,
        safe_globals=tuple(_safe_global(t) for t in table.tables("safe-globals")),
        allow_floating_aliases=table.boolean("allow-floating-aliases", False),
        deprecation_window_days=table.integer("deprecation-window-days", 90),
        suppressions=tuple(_suppression(t) for t in table.tables("suppress")),
        signers=tuple(_signer(t) for t in table.tables("signers")),
        require_signature=table.boolean("require-signature", False),
        revoked=tuple(_revocation(t) for t in table.tables("revoked")),
        unknown_formats=unknown,
        source=table.source,
        lines=tuple(sorted((key, table.line(key)) for key in table.data)),
    )
    return _with_hash(policy)


def policy_sha256(policy: Policy) -> str:
    """Hash of what the policy decides: order of sets, lines, comments and the file name do not count."""
    content: dict[str, Any] = asdict(policy)
    for key in ("source", "lines", "sha256"):
        del content[key]
    if policy.unknown_formats == "inform":  # the default: policies written before the key hash as they did
        del content["unknown_formats"]
    content["fail_on"] = policy.fail_on.value
    for key in ("allowed_orgs", "denied_orgs", "allowed_file_types"):
        content[key] = sorted(set(content[key]))
    for key in ("remote_code", "safe_globals", "suppressions", "signers", "revoked"):
        entries = [_without_line(e) for e in content[key]]
        content[key] = sorted(entries, key=canonical_sha256)
    return canonical_sha256(content)


def _with_hash(policy: Policy) -> Policy:
    return replace(policy, sha256=policy_sha256(policy))


DEFAULT_POLICY = _with_hash(Policy())
"""The policy when a manifest has neither ``[policy]`` nor ``policy-file``: allows no org."""


def check_org(policy: Policy, spec: HFModelSpec, *, manifest_path: str = "") -> Finding | None:
    """MG-P002 if the repo's org is denied, MG-P001 if it is not allowed, else ``None``.

    Exact and case-sensitive: ``Google`` is not ``google`` (namespaces differ on the Hub, and a
    look-alike org is a classic typosquat). A denied org stays denied even under ``["*"]``.
    """
    org = spec.org
    location = f"{manifest_path}:{spec.line}" if manifest_path else f"line {spec.line}"
    if org in policy.denied_orgs:
        where = _policy_where(policy, "denied-orgs")
        return finding(
            "MG-P002",
            f"model {spec.name!r}: org {org!r} of {spec.repo} is in denied-orgs{where}; "
            "remove the model or change the policy",
            location=location, model=spec.name,
        )
    if "*" in policy.allowed_orgs or org in policy.allowed_orgs:
        return None
    if not policy.allowed_orgs:
        fix = f'add "{org}" to allowed-orgs in [policy] (no org is allowed until listed)'
    else:
        near = [o for o in policy.allowed_orgs if o.lower() == org.lower()]
        near = near or difflib.get_close_matches(org, list(policy.allowed_orgs), n=1, cutoff=0.8)
        hint = f" (an allowed org is {near[0]!r}: check for a look-alike)" if near else ""
        fix = f"add {org!r} to allowed-orgs{_policy_where(policy, 'allowed-orgs')} if you trust it{hint}"
    return finding(
        "MG-P001",
        f"model {spec.name!r}: org {org!r} of {spec.repo} is not in allowed-orgs; {fix}",
        location=location, model=spec.name,
    )


def describe(policy: Policy, manifest_path: str) -> dict[str, str]:
    """Which policy a run applied, for its report: where it came from (in words) and its hash."""
    if not policy.source:
        where = f"{manifest_path} (no [policy]: the built-in defaults)"
    elif policy.source == manifest_path:
        where = manifest_path
    else:
        where = f"{policy.source} (policy-file of {manifest_path})"
    return {"source": where, "sha256": policy.sha256}


def policy_findings(policy: Policy) -> list[Finding]:
    """Findings about the policy itself: settings that say one thing and do another (MG-P016..P029).

    Reported by the commands that apply the policy (scan, fetch, verify) and by ``lint`` of the
    manifest, anchored to the policy line, so a reader learns the setting does not do what it says.
    """
    out: list[Finding] = []
    if policy.remote_code and policy.trust_remote_code != "allow-pinned":
        line = policy.remote_code[0].line or policy.line_of("remote-code")
        source = policy.source or "policy"
        repos = ", ".join(sorted({pin.repo for pin in policy.remote_code}))
        out.append(finding(
            "MG-P016",
            f"[[policy.remote-code]] pins ({repos}) have no effect: trust-remote-code = "
            f"{policy.trust_remote_code!r} refuses all custom code; set it to \"allow-pinned\" or delete the pins",
            location=f"{source}:{line}" if line else source,
        ))
    return out


def _policy_where(policy: Policy, key: str) -> str:
    line = policy.line_of(key)
    return f" ({policy.source}:{line})" if policy.source and line else ""


# --- one reader per key --------------------------------------------------------------------


def _orgs(table: Table, key: str, *, allow_star: bool) -> tuple[str, ...]:
    orgs = table.strings(key)
    for org in orgs:
        if org == "*":
            if not allow_star:
                raise table.error(key, "'*' is not allowed here; list the orgs to deny")
            if len(orgs) > 1:
                raise table.error(key, "'*' allows every org; write it alone (allowed-orgs = [\"*\"])")
            continue
        problem = ids.org_problem(org)
        if problem:
            raise table.error(key, f"{org!r} {problem}")
    return orgs


def _file_types(table: Table) -> tuple[str, ...]:
    from modelguard.models import Format

    known = [f.value for f in Format]
    types = table.strings("allowed-file-types")
    for name in types:
        if name not in known:
            near = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {near[0]!r}?" if near else "known: " + ", ".join(known)
            raise table.error("allowed-file-types", f"unknown format {name!r}; {hint}")
    return types


def _max_file_size(table: Table) -> int | None:
    value = table.data.get("max-file-size")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise table.error("max-file-size", "must be a positive number of bytes")
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            size = int(float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()])
            if size > 0:
                return size
    raise table.error("max-file-size", 'must be bytes (10000000000) or a size like "10GB" or "9.5GiB"')


def _remote_code(t: Table) -> RemoteCodePin:
    t.check_keys({"repo", "files"})
    repo = _repo(t, "repo")
    files = t.require("files")
    if not isinstance(files, Mapping) or not files:
        raise t.error("files", 'must be a table of path = "<sha256>", e.g. { "modeling_x.py" = "<64 hex>" }')
    pins: list[tuple[str, str]] = []
    for path, digest in files.items():
        problem = ids.repo_path_problem(path)
        if problem:
            raise t.error("files", f"path {path!r} {problem}")
        if not isinstance(digest, str) or not ids.is_sha256(digest):
            raise t.error("files", f"{path!r} must map to a SHA-256 (64 lowercase hex digits)")
        pins.append((path, digest))
    return RemoteCodePin(repo=repo, files=tuple(sorted(pins)), line=t.line())


def _safe_global(t: Table) -> SafeGlobal:
    t.check_keys({"module", "name", "scope", "reason"})
    return SafeGlobal(
        module=t.string("module", required=True),
        name=t.string("name", required=True),
        scope=_scope(t, "scope"),
        reason=t.string("reason", required=True),
        line=t.line(),
    )


def _suppression(t: Table) -> Suppression:
    t.check_keys({"rule", "scope", "reason", "expires"})
    rule = t.string("rule", required=True)
    if not _RULE_ID.match(rule) or rule not in RULES:
        near = difflib.get_close_matches(rule, list(RULES), n=1)
        hint = f"did you mean {near[0]!r}?" if near else "use a rule id such as MG-P001"
        raise t.error("rule", f"unknown rule {rule!r}; {hint}")
    scope = t.string("scope", required=True)
    reason = t.string("reason", required=True)
    return Suppression(rule=rule, scope=scope, reason=reason, expires=_date(t, "expires"), line=t.line())


def _signer(t: Table) -> Signer:
    t.check_keys({"keyid", "algorithm", "public-key", "scope"})
    keyid = t.string("keyid", required=True)
    if not ids.is_sha256(keyid):
        raise t.error("keyid", "must be the SHA-256 of the public key (64 lowercase hex digits)")
    algorithm = t.string("algorithm", required=True)
    if algorithm not in SIGNER_ALGORITHMS:
        raise t.error("algorithm", f"must be one of {', '.join(map(repr, SIGNER_ALGORITHMS))}")
    pem = t.string("public-key", required=True)
    if not pem.strip().startswith(_PEM_HEADER):
        raise t.error("public-key", f"must be a PEM public key starting with {_PEM_HEADER}")
    scope = t.string("scope", "lockfile")
    if scope != "lockfile":
        scope = _scope(t, "scope")
    return Signer(keyid=keyid, algorithm=algorithm, public_key_pem=pem, scope=scope, line=t.line())


def _revocation(t: Table) -> Revocation:
    t.check_keys({"target", "reason", "date"})
    target = t.string("target", required=True)
    if ids.revocation_target_problem(target):
        raise t.error("target", "must be org/name@<40-hex commit> or sha256:<64-hex digest>")
    return Revocation(target=target, reason=t.string("reason", required=True), date=_date(t, "date"), line=t.line())


def _repo(t: Table, key: str) -> str:
    repo = t.string(key, required=True)
    problem = ids.repo_id_problem(repo)
    if problem:
        raise t.error(key, f"{repo!r} {problem}")
    return repo


def _scope(t: Table, key: str) -> str:
    """``"*"``, an org or an ``org/name`` repo; required, so a reviewer sees how wide it is."""
    scope = t.string(key, required=True)
    problem = ids.scope_problem(scope)
    if problem:
        raise t.error(key, f"{scope!r} {problem}")
    return scope


def _date(t: Table, key: str) -> str:
    value = t.require(key)
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise t.error(key, "must be a date, e.g. 2026-12-31")


def _without_line(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "line"}

