"""The Typer app class of every command group: usage lines in the common form."""

from __future__ import annotations

import typer
from typer.core import TyperCommand


class Command(TyperCommand):
    """`rank run [OPTIONS] RECIPE`: required arguments bare, optional ones in brackets.

    Typer wraps required arguments in braces, which read as a set of choices."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.metavar or param.name.upper()
                if param.nargs != 1 and not name.endswith("..."):
                    name += "..."
                pieces.append(name if param.required else f"[{name}]")
        return pieces


class Typer(typer.Typer):
    """typer.Typer whose commands are `Command`s."""

    def command(self, *args, cls: type[TyperCommand] = Command, **kwargs):
        return super().command(*args, cls=cls, **kwargs)
