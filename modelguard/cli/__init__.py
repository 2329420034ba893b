"""The command line: parse -> library call -> render -> exit code. Nothing else lives here.

Subcommands are imported only when invoked, so ``modelguard --help`` starts fast.
Expected failures (:class:`~modelguard.errors.ModelguardError`) print one line, led by the error's
rule id when it has one, and exit with their code; anything else is a bug: traceback and exit 70.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
from typing import Any

import click

from modelguard.errors import ExitCode, ModelguardError, UsageError
from modelguard.spec.ids import secret_problem

_COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:attr, one-line help shown by --help without importing the module)
    "scan": ("modelguard.cli.scan:scan", "Scan model files or folders for code that runs on load."),
    "lock": ("modelguard.cli.lock:lock", "Resolve modelguard.toml into modelguard.lock."),
    "fetch": ("modelguard.cli.fetch:fetch", "Download, verify, scan and admit locked models."),
    "verify": ("modelguard.cli.verify:verify", "CI gate: prove the verified cache matches the lock."),
    "lint": ("modelguard.cli.lint:lint", "Find floating or retired provider model IDs in code."),
    "demo": ("modelguard.cli.demo:demo", "Run lock -> fetch -> verify against a bundled offline Hub."),
    "env": ("modelguard.cli.env:env", "Print shell exports that point HF loaders at the verified cache."),
    "sign": ("modelguard.cli.sign:sign", "Sign modelguard.lock with a trusted key (or print the key's policy entry)."),
    "revoke": ("modelguard.cli.revoke:revoke", "Revoke a model commit or file hash fleet-wide and evict it locally."),
    "log": ("modelguard.cli.log:log", "Read the audit log of the verified cache."),
    "init": ("modelguard.cli.edit:init", "Write a commented modelguard.toml with a starting policy."),
    "add": ("modelguard.cli.edit:add", "Add a Hub repo or provider model to modelguard.toml and lock it."),
    "remove": ("modelguard.cli.edit:remove", "Remove a model from modelguard.toml and the lock."),
    "sbom": ("modelguard.cli.sbom:sbom", "Write a CycloneDX 1.6 ML-BOM of the lockfile."),
    "prune": ("modelguard.cli.prune:prune", "Remove what the verified cache holds that was not admitted."),
    "push": ("modelguard.cli.push:push", "Publish admitted models to an OCI registry (a fleet's mirror)."),
    "path": ("modelguard.cli.path:path", "Print the admitted snapshot folder of one model (for vLLM, TGI, ...)."),
    "list": ("modelguard.cli.listing:listing", "Show what the verified cache holds, admitted or not, with sizes."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = _COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module, _, attr = spec[0].partition(":")
        try:
            command: click.Command = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            return None
        return _with_global_options(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


_GLOBAL_HELP = {
    "endpoint": "Hub URL (default: $HF_ENDPOINT, else https://huggingface.co).",
    "token": "Hub token (default: $HF_TOKEN or huggingface_hub login).",
    "quiet": "Only what fails and the final verdict.",
    "verbose": "List every file (clean ones too), finding details and the Hub client's retry messages.",
    "no_progress": "No progress bars (also: HF_HUB_DISABLE_PROGRESS_BARS=1; bars only ever show on a terminal).",
}


def _global_options() -> list[click.Parameter]:
    """The options accepted before the subcommand and after it (``modelguard verify -q``), like
    the tools people already use; given in both places, the one after the subcommand wins."""
    return [
        click.Option(["--endpoint"], metavar="URL", help=_GLOBAL_HELP["endpoint"]),
        click.Option(["--token"], metavar="TOKEN", help=_GLOBAL_HELP["token"]),
        click.Option(["-q", "--quiet"], is_flag=True, default=None, show_default=False, help=_GLOBAL_HELP["quiet"]),
        click.Option(["-v", "--verbose"], is_flag=True, default=None, show_default=False,
                     help=_GLOBAL_HELP["verbose"]),
        click.Option(["--no-progress", "no_progress"], is_flag=True, default=None, show_default=False,
                     help=_GLOBAL_HELP["no_progress"]),
    ]


def _with_global_options(command: click.Command) -> click.Command:
    """Add the global options to ``command`` (once) and fold their values into the shared ``ctx.obj``."""
    if getattr(command, "_modelguard_globals", False) or command.callback is None:
        return command
    taken = {opt for p in command.params for opt in getattr(p, "opts", [])}
    added = [p for p in _global_options() if not taken & set(getattr(p, "opts", []))]
    command.params.extend(added)
    names = [p.name for p in added if p.name]
    inner = command.callback

    @functools.wraps(inner)
    def callback(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in names}
        ctx = click.get_current_context()
        obj = ctx.find_root().obj
        if not isinstance(obj, dict):
            obj = ctx.find_root().obj = {}
        _record_globals(obj, {k: v for k, v in given.items() if v is not None})
        # Applied here, once every option is known: the subcommand's -v must win over the default.
        if not obj.get("verbose"):
            _quiet_hub_logging()
        if not progress_enabled(obj):
            _no_hub_progress_bars()
        return inner(*args, **kwargs)

    command.callback = callback
    command._modelguard_globals = True  # type: ignore[attr-defined]
    return command


def _record_globals(obj: dict[str, Any], given: dict[str, Any]) -> None:
    """Check and record global option values."""
    token = given.get("token")
    if token is not None and (not token or secret_problem(token)):
        # Said without the value: a pasted secret must not reach the terminal or a CI log.
        raise UsageError("--token is not a Hub token (it must be printable ASCII with no spaces or line breaks); "
                         "paste it again, or use HF_TOKEN or `hf auth login`")
    obj.update(given)


def progress_enabled(obj: dict[str, Any] | None) -> bool:
    """Progress bars (downloads, hashing) only on a terminal, and never with -q, --no-progress or
    HF_HUB_DISABLE_PROGRESS_BARS set to a true value (huggingface_hub's own switch, honoured for all bars)."""
    obj = obj or {}
    if obj.get("quiet") or obj.get("no_progress"):
        return False
    if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    return sys.stderr.isatty()


def _no_hub_progress_bars() -> None:
    """huggingface_hub reads HF_HUB_DISABLE_PROGRESS_BARS when first imported; set it, and switch its
    bars off if it is already imported."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="modelguard", prog_name="modelguard")
@click.option("--endpoint", metavar="URL", help=_GLOBAL_HELP["endpoint"])
@click.option("--token", metavar="TOKEN", help=_GLOBAL_HELP["token"])
@click.option("-q", "--quiet", is_flag=True, help=_GLOBAL_HELP["quiet"])
@click.option("-v", "--verbose", is_flag=True, help=_GLOBAL_HELP["verbose"])
@click.option("--no-progress", "no_progress", is_flag=True, help=_GLOBAL_HELP["no_progress"])
@click.pass_context
def cli(ctx: click.Context, endpoint: str | None, token: str | None, quiet: bool, verbose: bool,
        no_progress: bool) -> None:
    """modelguard: pin, hash, scan and admit models before they reach a machine.

    Global options may also follow the subcommand (modelguard verify -q).
    Exit codes: 0 verified/clean, 1 rejected, 2 usage or config error, 3 no verdict, 70 internal bug.
    """
    ctx.obj = {}
    _record_globals(ctx.obj, {"endpoint": endpoint, "token": token, "quiet": quiet, "verbose": verbose,
                             "no_progress": no_progress})


def _quiet_hub_logging() -> None:
    """huggingface_hub logs each retry ("Retrying in 1.0s") to stderr: noise around modelguard's one line.

    Its logger takes its level from HF_HUB_VERBOSITY when first imported, and keeps it if already
    imported; set both ways, unless the user chose a verbosity (or passes -v).
    """
    if "HF_HUB_VERBOSITY" in os.environ:
        return
    os.environ["HF_HUB_VERBOSITY"] = "error"
    if "huggingface_hub" in sys.modules:  # importing logging costs ~8 ms of every start-up
        import logging

        logging.getLogger("huggingface_hub").setLevel(logging.ERROR)


_AT_LINE = re.compile(r"^(?P<file>[^\s:][^:\n]*):(?P<line>[1-9][0-9]*)(?::(?P<col>[1-9][0-9]*))?: (?P<rest>.+)$",
                      re.DOTALL)


def error_line(e: ModelguardError) -> str:
    """The one line an expected failure prints. An error about a line of a file (a manifest or policy
    key) reads like a compiler's, ``file:line:col: error: ...``, as findings do, so editors and CI
    problem matchers link it; any other starts ``modelguard: error:``. The rule id comes first when
    the error has one, as reports print it, so a failure can be looked up and grepped."""
    from modelguard.report.redact import redact

    rule = f"{e.rule} " if e.rule and e.rule not in e.message else ""
    message = redact(e.message)  # it may quote a server's answer or a file: no secret of the environment shown
    m = _AT_LINE.match(message)
    if m:
        return f"{m['file']}:{m['line']}:{m['col'] or 1}: error: {rule}{m['rest']}"
    return f"modelguard: error: {rule}{message}"


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    code = run(argv)
    sys.exit(code)


def run(argv: list[str] | None = None) -> int:
    try:
        rv: Any = cli.main(args=argv, prog_name="modelguard", standalone_mode=False)
    except ModelguardError as e:
        click.echo(error_line(e), err=True)
        return int(e.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        # click turns Ctrl-C into Abort. Admission is atomic per model, so an interrupted run leaves
        # the verified cache consistent, but no verdict was reached for the whole run: exit 3.
        click.echo("modelguard: interrupted before a verdict; run the command again", err=True)
        return int(ExitCode.NO_VERDICT)
    except click.UsageError as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # bare `modelguard`: the help is the answer
            e.show()
            return int(ExitCode.USAGE)
        # One line, like every other error: what is wrong, and where to read the right usage.
        where = e.ctx.command_path if e.ctx else "modelguard"
        message = " ".join(e.format_message().split())
        click.echo(f"modelguard: error: {message} (see `{where} --help`)", err=True)
        return int(ExitCode.USAGE)
    except click.ClickException as e:
        click.echo(f"modelguard: error: {' '.join(e.format_message().split())}", err=True)
        return int(ExitCode.USAGE)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except Exception:
        import traceback

        from modelguard.report.redact import redact

        click.echo(redact(traceback.format_exc()).rstrip("\n"), err=True)
        click.echo("modelguard: internal error (a bug); please report it with the traceback above", err=True)
        return int(ExitCode.INTERNAL)
    return int(rv or 0)
