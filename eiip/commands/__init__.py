"""Subcommands of the `eiip` command, one module per group; each exposes `add_parsers(commands)`."""
