"""`eiip inpaint` (being written)."""

from __future__ import annotations

import argparse


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register the subcommands of this module."""
