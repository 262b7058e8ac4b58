"""The one error root of the package, and the exit code each kind of failure maps to.

Every failure a user can cause is raised as a subclass of ``RegistrySetupError`` whose message is
one sentence saying what is wrong and which value or permission to change. The CLI prints that
sentence as the last stderr line and exits with the class's exit code::

    RegistrySetupError
     +-- CredentialsRejected   exit 1  credentials rejected, or no push permission
     +-- InvalidConfiguration  exit 2  invalid values, input files or settings
     +-- Unreachable           exit 3  registry or API unreachable, timed out, or failing
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    CREDENTIALS_REJECTED = 1
    INVALID_CONFIGURATION = 2
    UNREACHABLE = 3
    INTERRUPTED = 130


class RegistrySetupError(Exception):
    """A failure with a one-sentence, actionable message."""

    exit_code: ExitCode = ExitCode.INVALID_CONFIGURATION

    def __init__(self, message: str) -> None:
        message = one_line(message)
        super().__init__(message)
        self.message = message


def one_line(text: str) -> str:
    """``text`` with control characters (line breaks included) written as escapes, so that a
    message quoting a value or a key from a file or a server stays one line."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class CredentialsRejected(RegistrySetupError):
    exit_code = ExitCode.CREDENTIALS_REJECTED


class InvalidConfiguration(RegistrySetupError):
    exit_code = ExitCode.INVALID_CONFIGURATION


class Unreachable(RegistrySetupError):
    exit_code = ExitCode.UNREACHABLE
