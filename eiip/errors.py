"""How the command line reports problems, importable without torch: the error of a bad input file,
work stopped on request, and warnings shown as one line."""

from __future__ import annotations

import sys


class InputError(Exception):
    """A bad input file; the message is one human-readable line that names the file."""


class Cancelled(Exception):
    """Work stopped on request (an event set by the caller) before it finished."""


def one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """A `warnings.showwarning` that prints 'warning: <message>' to stderr."""
    print(f"warning: {message}", file=sys.stderr)
