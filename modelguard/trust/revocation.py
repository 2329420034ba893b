"""Revocation: ``[[policy.revoked]]`` entries, the check every command makes, and ``modelguard revoke``.

Owns the revocation target syntax (``org/name@<40-hex commit>`` or ``sha256:<64-hex>``), the
lookup :func:`is_revoked` that fetch, verify and ``snapshot()`` call before using a model, the
edit that appends an entry to the policy (``[policy]`` in the manifest, or the ``policy-file``
it names) with tomlkit so comments and layout survive, and eviction of revoked snapshots from
the local verified cache.

Must not: change any policy key besides appending to ``revoked``; write the policy in place
(temp file + ``os.replace``); evict outside the cache writer lock. A revocation in an org-wide
policy file stops every machine that verifies against that file, on its next fetch or verify.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelguard import clock
from modelguard.errors import ConfigError, ModelguardError, RevokedError, UnreadableError, UsageError
from modelguard.models import Finding
from modelguard.report.rules import finding
from modelguard.spec import ids
from modelguard.spec.limits import OverBudget
from modelguard.spec.tomlsource import key_lines, read_text
from modelguard.spec.types import Policy, Revocation
from modelguard.store.atomic import replace_file

if TYPE_CHECKING:
    import tomlkit

    from modelguard.store.cache import Layout
    from modelguard.store.publish import SetAside



@dataclass(frozen=True)
class Target:
    """A parsed revocation target: a whole snapshot, or one file content wherever it appears."""

    repo: str = ""
    commit: str = ""
    sha256: str = ""

    def __str__(self) -> str:
        return f"sha256:{self.sha256}" if self.sha256 else f"{self.repo}@{self.commit}"


def parse_target(text: str) -> Target:
    """Validate ``org/name@<commit>`` or ``sha256:<hex>`` (:func:`modelguard.spec.ids.revocation_target_problem`);
    raise :class:`UsageError` otherwise."""
    value = text.strip()
    problem = ids.revocation_target_problem(value)
    if problem:
        raise UsageError(f"revocation target {text!r} {problem}")
    if value.startswith("sha256:"):
        return Target(sha256=value[len("sha256:"):])
    repo, _, commit = value.partition("@")
    return Target(repo=repo, commit=commit)


# --- the check ----------------------------------------------------------------------------------


def is_revoked(policy: Policy, repo: str, commit: str, sha256s: Iterable[str] = ()) -> Revocation | None:
    """The first revocation that applies to ``repo@commit`` or to any of the files' SHA-256s."""
    digests = {d.lower() for d in sha256s}
    for entry in policy.revoked:
        if (entry.sha256 and entry.sha256 in digests) or entry.target == f"{repo}@{commit}":
            return entry
    return None


def revocation_findings(
    policy: Policy, repo: str, commit: str, files: Mapping[str, str], *, model: str = ""
) -> list[Finding]:
    """MG-P501 for a revoked snapshot, MG-P502 per revoked file (``files``: path -> sha256)."""
    out: list[Finding] = []
    for entry in policy.revoked:
        where = f"{policy.source}:{entry.line}" if policy.source and entry.line else policy.source
        if entry.target == f"{repo}@{commit}":
            out.append(finding("MG-P501", f"{repo}@{commit[:12]} was revoked on {entry.date}: {entry.reason}",
                               location=where, model=model))
        elif entry.sha256:
            digest = entry.sha256
            for path, sha256 in sorted(files.items()):
                if sha256.lower() == digest:
                    out.append(finding("MG-P502", f"{path} (sha256 {digest[:16]}…) was revoked on {entry.date}: "
                                       f"{entry.reason}", location=where, path=path, model=model))
    return out


def check_not_revoked(policy: Policy, repo: str, commit: str, files: Mapping[str, str], *, model: str = "") -> None:
    """Raise :class:`RevokedError` naming the reason when anything of ``repo@commit`` is revoked."""
    found = revocation_findings(policy, repo, commit, files, model=model)
    if found:
        raise RevokedError(found[0].message, rule=found[0].rule)


# --- modelguard revoke: the policy edit -----------------------------------------------------------


def policy_file_to_edit(manifest_path: str | os.PathLike[str], policy_path: str | os.PathLike[str] | None) -> Path:
    """``--policy`` if given; else the manifest's ``policy-file``; else the manifest (its ``[policy]``)."""
    if policy_path is not None:
        return Path(policy_path)
    manifest = Path(manifest_path)
    doc = _load(manifest)
    shared = doc.get("policy-file")
    if shared is None:
        return manifest
    if not isinstance(shared, str) or not shared:
        raise ConfigError(f"{manifest}: policy-file must be a path")
    return (manifest.parent / shared) if not os.path.isabs(shared) else Path(shared)


def add_revocation(path: str | os.PathLike[str], target: Target, reason: str, *, date: str | None = None) -> Revocation:
    """Append ``[[policy.revoked]]`` (or top-level ``[[revoked]]`` in a bare policy file), atomically.

    Returns the entry in force for ``target``; an existing entry for the same target is kept
    unchanged (revoking twice is not an error, and the first reason and date stay on record).
    """
    edit = revocation_edit(path, target, reason, date=date)
    if edit.text is not None:
        replace_file(edit.file, edit.text)
    return edit.entry


@dataclass(frozen=True)
class PolicyEdit:
    """A revocation added to a policy file's text, not yet written."""

    file: Path
    original: str
    text: str | None
    """the new text, or None when the target is already revoked there (nothing to write)"""
    entry: Revocation


def revocation_edit(path: str | os.PathLike[str], target: Target, reason: str, *, date: str | None = None
                    ) -> PolicyEdit:
    """The policy text with ``target`` revoked, keeping the user's comments, order and layout.

    Works whatever order the tables come in (``[[policy.signers]]`` after ``[[hf-model]]``, as
    ``modelguard sign --show-public >> modelguard.toml`` leaves it). The new text is read back by the
    policy parser before it is offered: an edit that would not parse, or would not revoke, is refused.
    """
    if not reason.strip():
        raise UsageError("--reason is required: say why, so every machine that refuses the model can tell its user")
    # tomlkit only here, where the policy is edited: fetch and verify check revocations without it.
    import tomlkit
    from tomlkit.items import AoT

    file = Path(path)
    original = _read(file)
    doc = _parse(original, file)
    table = _revoked_parent(doc, file)
    revoked = table.get("revoked")
    if revoked is None:
        table["revoked"] = tomlkit.aot()  # item assignment: a Table, an out-of-order proxy and a document all take it
        revoked = table["revoked"]
    if not isinstance(revoked, AoT):
        raise ConfigError(f"{file}: revoked must be an array of tables ([[policy.revoked]])")
    for existing in revoked:
        if existing.get("target") == str(target):
            kept = Revocation(target=str(target), reason=str(existing.get("reason", "")),
                              date=str(existing.get("date", "")))
            return PolicyEdit(file, original, None, kept)
    day = date or clock.today().isoformat()
    entry = tomlkit.table()
    entry.append("target", str(target))
    entry.append("reason", reason.strip())
    entry.append("date", _dt.date.fromisoformat(day))
    revoked.append(entry)
    text = _spaced(tomlkit.dumps(doc), original)
    _read_back(text, file, target)
    return PolicyEdit(file, original, text, Revocation(target=str(target), reason=reason.strip(), date=day))


def _spaced(text: str, original: str) -> str:
    """A blank line before a table header that the new entry now directly precedes (tomlkit inserts the
    entry without one when the policy's tables are out of order); the user's own lines are left as written."""
    import difflib

    old, new = original.split("\n"), text.split("\n")
    inserted: set[int] = set()
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag in ("insert", "replace"):
            inserted.update(range(j1, j2))
    out: list[str] = []
    for j, line in enumerate(new):
        if line.startswith("[") and j - 1 in inserted and new[j - 1].strip() and j not in inserted:
            out.append("")
        out.append(line)
    return "\n".join(out)


def _read_back(text: str, file: Path, target: Target) -> None:
    """The edited text must still parse as the manifest or policy file it is, and revoke ``target``."""
    from modelguard.spec.manifest import parse_manifest
    from modelguard.spec.policy import parse_policy
    from modelguard.spec.tomlsource import Table as SourceTable
    from modelguard.spec.tomlsource import parse_toml

    data, lines = parse_toml(text, str(file))
    if any(k in data for k in ("hf-model", "provider-model", "policy-file")):
        policy = parse_manifest(text, source=str(file)).policy
    else:
        root = SourceTable(data, "", str(file), lines)
        inner = root.table("policy") if set(data) == {"policy"} else None
        policy = parse_policy(inner if inner is not None else root)
    if not any(r.target == str(target) for r in policy.revoked):
        raise ConfigError(f"{file}: the revocation could not be added where the policy reads it; add it by hand")


def _revoked_parent(doc: tomlkit.TOMLDocument, file: Path) -> Any:
    """Where ``revoked`` lives: ``[policy]`` in a manifest or a wrapped policy file, else the top level.

    A ``[policy]`` whose sub-tables come after other tables is a tomlkit ``OutOfOrderTableProxy``, not a
    ``Table``: both are the one policy table, and both take the new entry.
    """
    import tomlkit
    from tomlkit.container import OutOfOrderTableProxy
    from tomlkit.items import Table

    is_manifest = any(k in doc for k in ("hf-model", "provider-model", "policy-file"))
    if "policy" in doc:
        policy = doc["policy"]
        if not isinstance(policy, (Table, OutOfOrderTableProxy)):
            raise ConfigError(f"{file}: [policy] must be a table")
        return policy
    if "policy-file" in doc:
        raise ConfigError(f"{file} uses policy-file; revoke in that file (pass --policy FILE)")
    if is_manifest:
        policy = tomlkit.table()
        doc.append("policy", policy)
        return policy
    return doc


def _load(file: Path) -> tomlkit.TOMLDocument:
    return _parse(_read(file), file)


def _read(file: Path) -> str:
    if not file.exists():
        raise ConfigError(f"no policy at {file}; pass --policy FILE or run where modelguard.toml is")
    return read_text(str(file))  # within the config budget; unreadable: UnreadableError (exit 3)


def _parse(text: str, file: Path) -> tomlkit.TOMLDocument:
    import tomlkit
    import tomlkit.exceptions

    try:
        key_lines(text, source=str(file))  # shaped so tomlkit gets no bomb
    except OverBudget as e:
        raise ConfigError(e.message, rule=e.rule) from None
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as e:
        raise ConfigError(f"{file}: not valid TOML ({e})") from None


# --- eviction from the local verified cache ---------------------------------------------------------


@dataclass(frozen=True)
class Evicted:
    repo: str
    commit: str


def evict_revoked(cache_root: str | os.PathLike[str], target: Target) -> list[Evicted]:
    """Remove every admitted snapshot ``target`` covers, with its refs, record and unused blobs.

    Runs under the cache's writer lock, so no fetch admits the model while it is being removed.
    A sha256 target is found through admission records (every admitted file's SHA-256), LFS blob
    names (the SHA-256 itself) and, for small files stored under their git blob SHA-1, by hashing.
    """
    from modelguard.store.cache import Layout, writer_lock

    root = Path(cache_root)
    if not (root / "hub").is_dir() and not (root / "admissions").is_dir():
        return []
    layout = Layout(root)
    with writer_lock(layout):
        return evict_locked(layout, target)


def evict_locked(layout: Layout, target: Target) -> list[Evicted]:
    """:func:`evict_revoked` for a caller that already holds the writer lock (fetch)."""
    held = set_aside_locked(layout, target)
    for _, aside in held:
        aside.purge()
    return [hit for hit, _ in held]


def set_aside_locked(layout: Layout, target: Target) -> list[tuple[Evicted, SetAside]]:
    """Move every admitted snapshot ``target`` covers into quarantine (undoable until purged); call under
    the writer lock. On a failure half-way, what was already moved is put back and the error raised."""
    from modelguard.store.publish import set_aside

    held: list[tuple[Evicted, SetAside]] = []
    try:
        for hit in snapshots_holding(layout.root, target):
            held.append((hit, set_aside(layout, hit.repo, hit.commit)))
    except BaseException:
        for _, aside in reversed(held):
            aside.restore()
        raise
    return held


def _repo_of(folder: str) -> str | None:
    from modelguard.store.cache import repo_of_folder

    return repo_of_folder(folder)


def snapshots_holding(root: Path, target: Target) -> list[Evicted]:
    """Every cached snapshot ``target`` covers (by record, by blob name, or by hashing a small blob)."""
    hits: set[Evicted] = set()
    hub, admissions = root / "hub", root / "admissions"
    if target.repo:
        folder = "models--" + target.repo.replace("/", "--")
        record = admissions / folder / f"{target.commit}.json"
        if (hub / folder / "snapshots" / target.commit).exists() or record.exists():
            hits.add(Evicted(target.repo, target.commit))
        return sorted(hits, key=lambda e: (e.repo, e.commit))
    for record in sorted(admissions.glob("models--*/*.json")) if admissions.is_dir() else []:
        repo = _repo_of(record.parent.name)
        doc = _json(record)
        files = doc.get("files") if isinstance(doc, dict) else None
        holds = isinstance(files, list) and any(isinstance(f, dict) and f.get("sha256") == target.sha256 for f in files)
        if repo and holds:
            hits.add(Evicted(repo, record.stem))
    for repo_dir in sorted(hub.glob("models--*")) if hub.is_dir() else []:
        repo = _repo_of(repo_dir.name)
        bad_blobs = {b.name for b in (repo_dir / "blobs").glob("*") if _blob_is(b, target.sha256)}
        if not repo or not bad_blobs:
            continue
        for snapshot in (repo_dir / "snapshots").glob("*"):
            if any(os.path.basename(os.readlink(link)) in bad_blobs for link in _links(snapshot)):
                hits.add(Evicted(repo, snapshot.name))
    return sorted(hits, key=lambda e: (e.repo, e.commit))


def _blob_is(blob: Path, sha256: str) -> bool:
    if blob.name == sha256:
        return True
    if len(blob.name) != 40 or not blob.is_file():
        return False
    import hashlib

    digest = hashlib.sha256()
    try:
        with blob.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as e:
        raise UnreadableError(f"cannot read cached blob {blob}: {e.strerror or e}") from None
    return digest.hexdigest() == sha256


def _links(snapshot: Path) -> list[str]:
    out: list[str] = []
    for dirpath, _, names in os.walk(snapshot):
        out.extend(os.path.join(dirpath, n) for n in names if os.path.islink(os.path.join(dirpath, n)))
    return out


def _json(path: Path) -> Any:
    """An admission record, read within its budget; None when it cannot be (the snapshot is then skipped)."""
    import json

    from modelguard.spec import bounded, limits

    try:
        raw = bounded.read_capped(path, limits.BUDGETS.record_bytes, limits.active().record_bytes, follow=False)
        return bounded.load_json(raw, limits.BUDGETS.record_bytes, what=str(path))
    except (OSError, ModelguardError, UnicodeDecodeError, json.JSONDecodeError):
        return None
