"""The command line: parse -> library call -> render -> exit code. Nothing else lives here.

Subcommands are imported only when invoked, so ``modelguard --help`` starts fast.
Expected failures (:class:`~modelguard.errors.ModelguardError`) print one line, led by the error's
rule id when it has one, and exit with their code; anything else is a bug: traceback and exit 70.
"""

from __future__ import annotations

import importlib
import os
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
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="modelguard", prog_name="modelguard")
@click.option("--endpoint", metavar="URL", help="Hub URL (default: $HF_ENDPOINT, else https://huggingface.co).")
@click.option("--token", metavar="TOKEN", help="Hub token (default: $HF_TOKEN or huggingface_hub login).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the final verdict.")
@click.option("-v", "--verbose", is_flag=True, help="Show finding details and the Hub client's retry messages.")
@click.pass_context
def cli(ctx: click.Context, endpoint: str | None, token: str | None, quiet: bool, verbose: bool) -> None:
    """modelguard: pin, hash, scan and admit models before they reach a machine.

    Exit codes: 0 verified/clean, 1 rejected, 2 usage or config error, 3 no verdict, 70 internal bug.
    """
    if token is not None and (not token or secret_problem(token)):
        # Said without the value: a pasted secret must not reach the terminal or a CI log.
        raise UsageError("--token is not a Hub token (it must be printable ASCII with no spaces or line breaks); "
                         "paste it again, or use HF_TOKEN or `hf auth login`")
    ctx.obj = {"endpoint": endpoint, "token": token, "quiet": quiet, "verbose": verbose}
    if not verbose:
        _quiet_hub_logging()


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


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    code = run(argv)
    sys.exit(code)


def run(argv: list[str] | None = None) -> int:
    try:
        rv: Any = cli.main(args=argv, prog_name="modelguard", standalone_mode=False)
    except ModelguardError as e:
        # The rule id, as reports print it, so a failure of lock (or any command) can be looked up and grepped.
        rule = f"{e.rule} " if e.rule and e.rule not in e.message else ""
        click.echo(f"modelguard: error: {rule}{e.message}", err=True)
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

        traceback.print_exc()
        click.echo("modelguard: internal error (a bug); please report it with the traceback above", err=True)
        return int(ExitCode.INTERNAL)
    return int(rv or 0)
