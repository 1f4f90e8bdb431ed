"""The `eiip` command; each group of subcommands lives in `eiip.commands`.

Building the parser imports no torch: `eiip --help` and argument errors are instant, and a
subcommand imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from eiip.commands import app, colorize, inpaint, masks, shard, study, weights
from eiip.errors import InputError, one_line_warning

COMMAND_MODULES = (colorize, inpaint, masks, shard, study, weights, app)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eiip", description="External-internal inpainting with a monochromic bottleneck.")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: bad input prints one 'error: ...' line and exits with status 2."""
    args = build_parser().parse_args(argv)
    warnings.showwarning = one_line_warning
    try:
        return args.run(args)
    except (InputError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
