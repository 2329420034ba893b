"""``modelguard log``: read the audit log of a verified cache."""

from __future__ import annotations

import datetime as _dt
import json

import click

from modelguard.errors import ExitCode, UsageError


@click.command()
@click.option("--since", default=None, metavar="DATE",
              help="Only records at or after DATE (ISO date or date-time; UTC unless it says otherwise).")
@click.option("--model", default=None, metavar="NAME", help="Only records about this model name or org/name repo.")
@click.option("--format", "-f", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Verified cache root (default: $MODELGUARD_HOME, else $XDG_CACHE_HOME/modelguard, "
                   "else ~/.cache/modelguard).")
def log(since: str | None, model: str | None, fmt: str, cache_dir: str | None) -> int:
    """Show what was locked, fetched, admitted, refused, verified, revoked and evicted, and when.

    Exit 1 when a line of the log is malformed (reported, never skipped silently).
    """
    from modelguard import api

    read = api.audit_log(cache_dir, since=_since(since), model=model)
    if fmt == "json":
        doc = {"schema": "modelguard/audit-log/v1", "log": str(read.path),
               "entries": [e.record for e in read.entries],
               "malformed": [{"line": m.line, "problem": m.problem} for m in read.malformed]}
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
    else:
        for e in read.entries:
            click.echo(text_line(e.record))
    for m in read.malformed:
        click.echo(f"modelguard: {read.path}:{m.line}: malformed audit record: {m.problem}", err=True)
    return int(ExitCode.REJECTED if read.malformed else ExitCode.OK)


def _since(text: str | None) -> _dt.datetime | None:
    if text is None:
        return None
    from modelguard.store.audit import parse_time

    moment = parse_time(text)
    if moment is None:
        raise UsageError(f"--since {text!r}: use an ISO date such as 2026-11-01 or 2026-11-01T09:30Z")
    return moment


def text_line(record: dict[str, object]) -> str:
    """``time  user@host  command[/action]  model  repo@commit  detail``: one line a human scans."""
    action = record.get("action")
    what = f"{record.get('command')}/{action}" if action and action != record.get("command") else record.get("command")
    target = ""
    if record.get("repo"):
        commit = str(record.get("commit") or "")[:12]
        target = f"{record.get('repo')}@{commit}" if commit else str(record.get("repo"))
    elif record.get("target"):
        target = str(record.get("target"))
    parts = [str(record.get("time", "")), f"{record.get('user', '')}@{record.get('host', '')}", str(what)]
    if record.get("model"):
        parts.append(str(record["model"]))
    if target:
        parts.append(target)
    for key in ("outcome", "reason"):
        if record.get(key):
            parts.append(f"{key}={record[key]}")
    rules = record.get("rules")
    if isinstance(rules, list) and rules:
        parts.append("rules=" + ",".join(map(str, rules)))
    return "  ".join(parts)
