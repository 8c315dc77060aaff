"""`rank schema`: the JSON Schema of recipe files, for editors that complete and check TOML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from recsys_cli.cli.common import user_errors
from recsys_cli.errors import UserError, writing_into


@user_errors
def schema(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the schema to this file (default: print it)."),
    ] = None,
) -> None:
    """Print the JSON Schema (draft 7) of a recipe file: a training recipe with its
    optional \\[tune] table, or an \\[ope] recipe. Editors that read JSON Schema for TOML (VS Code
    with Even Better TOML, taplo) complete keys and flag typos and wrong types as you type;
    `rank run` still checks what spans tables (labels, group and metric names)."""
    from recsys_cli.config.json_schema import recipe_json_schema

    text = json.dumps(recipe_json_schema(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    if output.is_dir():
        raise UserError(f"--output: {output} is a folder; name the JSON file to write")
    with writing_into(output.parent):
        output.write_text(text)
