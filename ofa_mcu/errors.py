"""User-facing errors: one clear line, exit code 2 (bad input) or 1 (the work failed).

Library code raises these; the CLI turns them into a message without a traceback.
"""

from __future__ import annotations


class OfaMcuError(Exception):
    """Base class of errors the tool reports as one line."""

    exit_code = 1


class UserError(OfaMcuError):
    """Bad input: a file, field or value that is not what was expected (exit code 2)."""

    exit_code = 2


class WorkFailed(OfaMcuError):
    """The input was fine but the work failed (a build, a device, a run) (exit code 1)."""

    exit_code = 1
