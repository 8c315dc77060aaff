"""The `rank` command line: one Typer module per command group."""
