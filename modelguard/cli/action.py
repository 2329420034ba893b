"""The GitHub Action's logic (``action.yml`` runs ``python -m modelguard.cli.action``).

Owns: reading the action's inputs from the environment, running ``modelguard fetch`` (when asked)
and ``modelguard verify`` as subprocesses (so the action behaves exactly like the CLI a developer
runs), writing the step outputs (``$GITHUB_OUTPUT``) and a Markdown step summary
(``$GITHUB_STEP_SUMMARY``) -- also when an input is invalid -- and exiting with verify's own exit code.

Must not: decide a verdict itself, swallow an exit code, or print a secret. Inputs arrive as
environment variables, never interpolated into a shell line, so an input cannot inject code; the
token reaches modelguard as ``HF_TOKEN`` in its environment, never on a command line.

Environment read: ``MODELGUARD_MANIFEST``, ``MODELGUARD_LOCKFILE``, ``MODELGUARD_FAIL_ON``,
``MODELGUARD_SARIF_FILE``, ``MODELGUARD_SARIF_CATEGORY``, ``MODELGUARD_CACHE_DIR``, ``MODELGUARD_FETCH``,
``MODELGUARD_REMOTE``, ``MODELGUARD_REQUIRE_SIGNATURE``, ``MODELGUARD_FAST``, ``MODELGUARD_CACHE``,
``MODELGUARD_TOKEN`` (the action's inputs), and GitHub's ``GITHUB_WORKSPACE``, ``GITHUB_OUTPUT``,
``GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelguard.errors import ExitCode, UsageError
from modelguard.models import parse_fail_on

__all__ = ["ActionInputs", "ActionResult", "fetch_args", "main", "render_summary", "run_action", "verify_args"]

_EXIT_MEANING: Mapping[int, str] = {
    ExitCode.OK: "verified",
    ExitCode.REJECTED: "rejected: findings at or above fail-on",
    ExitCode.USAGE: "usage or configuration error",
    ExitCode.NO_VERDICT: "no verdict reached (nothing was checked, or the Hub was unreachable)",
    ExitCode.INTERNAL: "internal error in modelguard (a bug)",
}
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})
_MAX_ROWS = 50
"""Findings listed in the step summary; the SARIF upload has all of them."""


_FLAGS = ("fetch", "remote", "require-signature", "fast", "cache")
"""The true/false inputs (``cache`` is read by action.yml's cache steps; it is checked here with the rest)."""


@dataclass(frozen=True)
class ActionInputs:
    """The action's inputs; empty strings mean "let modelguard use its default"."""

    manifest: str = ""
    lockfile: str = ""
    fail_on: str = ""
    sarif_file: str = "modelguard.sarif"
    sarif_category: str = ""
    cache_dir: str = ""
    fetch: bool = False
    remote: bool = False
    require_signature: bool = False
    fast: bool = False
    cache: bool = True
    token: str = field(default="", repr=False)
    """never printed: a repr of the inputs must not show it"""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ActionInputs:
        flags = {}
        for name in _FLAGS:
            raw = env.get(f"MODELGUARD_{name.upper().replace('-', '_')}", "").strip().lower()
            if raw not in _TRUE | _FALSE:
                raise UsageError(f"input {name} must be true or false, not {raw!r}")
            flags[name.replace("-", "_")] = raw in _TRUE if raw else name == "cache"
        fail_on = env.get("MODELGUARD_FAIL_ON", "").strip()
        if fail_on:
            parse_fail_on(fail_on, where="input fail-on")
        return cls(
            manifest=env.get("MODELGUARD_MANIFEST", "").strip(),
            lockfile=env.get("MODELGUARD_LOCKFILE", "").strip(),
            fail_on=fail_on,
            sarif_file=env.get("MODELGUARD_SARIF_FILE", "").strip() or "modelguard.sarif",
            sarif_category=env.get("MODELGUARD_SARIF_CATEGORY", "").strip(),
            cache_dir=env.get("MODELGUARD_CACHE_DIR", "").strip(),
            token=env.get("MODELGUARD_TOKEN", "").strip(),
            **flags,
        )


@dataclass(frozen=True)
class ActionResult:
    exit_code: int
    sarif_path: str
    """absolute path of the SARIF log, or "" when modelguard wrote none"""
    findings: int | None
    """None when no report was written: no report must never read as no findings"""
    failing: int | None
    suppressed: int
    stderr: str


def _common_args(inputs: ActionInputs) -> list[str]:
    args = []
    if inputs.manifest:
        args += ["--manifest", inputs.manifest]
    if inputs.lockfile:
        args += ["--lockfile", inputs.lockfile]
    if inputs.cache_dir:
        args += ["--cache-dir", inputs.cache_dir]
    if inputs.fail_on:
        args += ["--fail-on", inputs.fail_on]
    return args


def fetch_args(inputs: ActionInputs) -> list[str]:
    """The ``modelguard`` arguments of the fetch that fills the verified cache first (``fetch: true``)."""
    return ["fetch", "--no-progress", *_common_args(inputs)]


def verify_args(inputs: ActionInputs, sarif_path: str) -> list[str]:
    """The ``modelguard`` arguments the action runs: verify, SARIF to ``sarif_path``."""
    args = ["verify", "--format", "sarif", "--output", sarif_path, *_common_args(inputs)]
    if inputs.sarif_category:
        args += ["--sarif-category", inputs.sarif_category]
    for flag in ("remote", "require_signature", "fast"):
        if getattr(inputs, flag):
            args.append("--" + flag.replace("_", "-"))
    return args


def _modelguard(args: Sequence[str], workspace: str, token: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for name in ("MODELGUARD_TOKEN",):
        env.pop(name, None)  # the input variable itself is not handed on
    if token:
        env["HF_TOKEN"] = token
    return subprocess.run(  # noqa: S603 - fixed interpreter and module, arguments as a list
        [sys.executable, "-m", "modelguard", *args], cwd=workspace, env=env, capture_output=True, text=True,
        check=False,
    )


def run_action(args: Sequence[str], *, sarif_path: str, workspace: str, token: str = "") -> ActionResult:
    """Run ``python -m modelguard ARGS`` in ``workspace`` and read the SARIF it wrote."""
    if os.path.exists(sarif_path):
        os.unlink(sarif_path)  # a stale log from an earlier step must not be reported as this run's
    proc = _modelguard(args, workspace, token)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    doc = _read_sarif(sarif_path)
    results = doc["runs"][0].get("results", []) if doc else []
    props = doc["runs"][0].get("properties", {}).get("modelguard", {}) if doc else {}
    suppressed = sum(1 for r in results if r.get("suppressions"))
    return ActionResult(
        exit_code=proc.returncode,
        sarif_path=sarif_path if doc else "",
        findings=len(results) if doc else None,
        failing=int(props.get("summary", {}).get("failing", 0)) if doc else None,
        suppressed=suppressed,
        stderr=proc.stderr,
    )


def _read_sarif(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            doc: dict[str, Any] = json.load(f)
    except FileNotFoundError:
        return None
    return doc


def write_outputs(path: str, result: ActionResult) -> None:
    """Append the step outputs to ``$GITHUB_OUTPUT`` (multi-line-safe delimiter syntax)."""
    values = {
        "sarif-file": result.sarif_path,
        "findings": "" if result.findings is None else str(result.findings),
        "failing": "" if result.failing is None else str(result.failing),
        "exit-code": str(result.exit_code),
    }
    with open(path, "a", encoding="utf-8") as f:
        for name, value in values.items():
            delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
            f.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def render_summary(result: ActionResult, command: str = "verify") -> str:
    """The Markdown step summary: verdict, counts, and a table of findings."""
    meaning = _EXIT_MEANING.get(result.exit_code, "unexpected exit code")
    icon = "✅" if result.exit_code == ExitCode.OK else "❌"
    lines = [f"## {icon} modelguard {command}: {meaning} (exit {result.exit_code})", ""]
    doc = _read_sarif(result.sarif_path) if result.sarif_path else None
    if doc is None:
        last = [ln for ln in result.stderr.splitlines() if ln.strip()]
        lines.append("No report was written.")
        if last:
            lines += ["", "```", _md_code(last[-1]), "```"]
        return "\n".join(lines) + "\n"
    run = doc["runs"][0]
    summary = run.get("properties", {}).get("modelguard", {}).get("summary", {})
    lines.append(
        f"{_n(int(summary.get('files', 0)), 'file')}: {summary.get('clean', 0)} clean, "
        f"{summary.get('suspicious', 0)} suspicious, {summary.get('malicious', 0)} malicious, "
        f"{summary.get('unscannable', 0)} unscannable. {_n(result.findings or 0, 'finding')}, "
        f"{result.failing} failing, {result.suppressed} suppressed."
    )
    results = run.get("results", [])
    if results:
        lines += ["", "| rule | severity | where | finding |", "| --- | --- | --- | --- |"]
        for r in results[:_MAX_ROWS]:
            loc = r["locations"][0]["physicalLocation"]
            where = f"{loc['artifactLocation']['uri']}:{loc['region']['startLine']}"
            severity = r.get("properties", {}).get("severity", r.get("level", ""))
            if r.get("suppressions"):
                severity += " (suppressed)"
            text = r["message"]["text"].split("\n", 1)[0]
            lines.append(f"| {r['ruleId']} | {severity} | `{_md_cell(where)}` | {_md_cell(text)} |")
        if len(results) > _MAX_ROWS:
            lines.append(f"\n…and {len(results) - _MAX_ROWS} more in the SARIF report.")
    notes = run.get("invocations", [{}])[0].get("toolExecutionNotifications", [])
    if notes:
        lines += ["", "**Not scanned:**", ""]
        lines += [f"- {_md_cell(n['message']['text'])}" for n in notes]
    return "\n".join(lines) + "\n"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")


def _md_code(text: str) -> str:
    return text.replace("```", "'''")


def main(env: Mapping[str, str] | None = None) -> int:
    """Entry point of the action; returns verify's exit code. Outputs and summary are written in every case."""
    env = os.environ if env is None else env
    workspace = env.get("GITHUB_WORKSPACE") or os.getcwd()
    try:
        inputs = ActionInputs.from_env(env)
    except UsageError as e:
        message = f"modelguard action: error: {e.message}"
        sys.stderr.write(message + "\n")
        publish(ActionResult(int(ExitCode.USAGE), "", None, None, 0, message), env)
        return int(ExitCode.USAGE)
    if inputs.cache_dir:
        # A cold cache is an empty one: verify then says what is not admitted (exit 1), not "no such folder".
        os.makedirs(os.path.join(workspace, inputs.cache_dir), exist_ok=True)
    if inputs.fetch:
        fetched = _modelguard(fetch_args(inputs), workspace, inputs.token)
        sys.stdout.write(fetched.stdout)
        sys.stderr.write(fetched.stderr)  # verify below reports every model, fetched or not
    sarif_path = os.path.join(workspace, inputs.sarif_file)
    result = run_action(verify_args(inputs, sarif_path), sarif_path=sarif_path, workspace=workspace,
                        token=inputs.token)
    publish(result, env)
    return result.exit_code


def publish(result: ActionResult, env: Mapping[str, str], command: str = "verify") -> None:
    """Write the outputs and the step summary where GitHub asks for them (when it does)."""
    output = env.get("GITHUB_OUTPUT")
    if output:
        write_outputs(output, result)
    summary_path = env.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as f:
            f.write(render_summary(result, command))


if __name__ == "__main__":
    sys.exit(main())
