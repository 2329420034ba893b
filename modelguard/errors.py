"""The one exception tree and the one exit-code table.

Every error modelguard raises derives from :class:`ModelguardError` and carries the
exit code the CLI returns for it. Two branches matter to callers:

* :class:`RejectedError` (exit 1): something was checked and failed — integrity,
  unsafe content, policy, a stale lock. The model must not be used.
* :class:`NoVerdictError` (exit 3): nothing could be decided — the Hub is unreachable,
  access is denied, there is nothing to check, a file is unreadable. Never treated as a pass.

:class:`UsageError` (exit 2) is for what the user wrote wrong: flags, manifest, lockfile.

Messages are written for the user: one line saying what is wrong and what to do next.
They must never contain a token or a key. An error that names a rule raises the
``modelguard.finding`` audit event with the rule id, as :func:`modelguard.report.rules.finding`
does: the user sees the rule either way (an error line or a report).
"""

from __future__ import annotations

import sys
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes: the single table used by the CLI and the action."""

    OK = 0
    """verified / clean"""
    REJECTED = 1
    """findings at or above fail-on, hash mismatch, stale lock"""
    USAGE = 2
    """bad flag, unparsable manifest or lockfile, unknown lock-version"""
    NO_VERDICT = 3
    """Hub unreachable, nothing to check, file unreadable"""
    INTERNAL = 70
    """a bug in modelguard (traceback shown)"""


class ModelguardError(Exception):
    """Root of every error modelguard raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL
    rule: str | None = None

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        from modelguard.report.redact import redact_registered

        # Messages quote what servers and files said; a server that echoes the token must not get it
        # printed (module docstring: messages never contain a token or a key). The CLI redacts again.
        (message,) = redact_registered(message)
        super().__init__(message)
        self.message = message
        if rule is not None:
            self.rule = rule
            sys.audit("modelguard.finding", rule)

    def __str__(self) -> str:
        return self.message


# --- exit 2: the user's input is wrong -----------------------------------------------------


class UsageError(ModelguardError):
    """A bad flag, path or argument."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """The manifest or policy cannot be read or is invalid."""


class LockfileError(UsageError):
    """The lockfile cannot be read: unparsable, unknown lock-version, missing."""


class NotLockedError(UsageError):
    """A model was asked for by name or repo but the lockfile has no such entry."""


class NotFoundError(UsageError):
    """The Hub says the repo, revision or file does not exist: the manifest is wrong."""


# --- exit 1: checked, and it failed ----------------------------------------------------------


class RejectedError(ModelguardError):
    """Something was checked and failed. The model must not be used."""

    exit_code = ExitCode.REJECTED


class IntegrityError(RejectedError):
    """Bytes, sizes, hashes or commits do not match what was locked or published."""


class UnsafeContentError(RejectedError):
    """A scan found content that can run code on load."""


class PolicyError(RejectedError):
    """The trust policy refuses the model."""


class StaleLockError(RejectedError):
    """The lockfile no longer matches the manifest."""


class NotAdmittedError(RejectedError):
    """The model is locked but not (or no longer) in the verified cache."""


class RevokedError(RejectedError):
    """The model or file was revoked by the policy."""


class SignatureError(RejectedError):
    """A signature is missing, invalid or from an untrusted key."""


# --- exit 3: no verdict ----------------------------------------------------------------------


class NoVerdictError(ModelguardError):
    """Nothing could be decided. Never a pass."""

    exit_code = ExitCode.NO_VERDICT


class HubUnreachableError(NoVerdictError):
    """The Hub (or a provider API) did not answer, or answered 5xx after retries."""


class AccessDeniedError(NoVerdictError):
    """A gated or private repo, or a missing/invalid API key."""


class NothingToCheckError(NoVerdictError):
    """No file, model or entry to check: a verdict of 'clean' would be a lie."""


class UnreadableError(NoVerdictError):
    """A file could not be read (permissions, I/O error, disk full)."""
