"""Help, usage lines and shell completion of every `rank` command, through the CLI."""

import pytest
import typer
from rich.text import Text
from typer.testing import CliRunner

from recsys_cli.cli.main import app
from recsys_cli.cli.run import SET_EXAMPLE
from recsys_cli.config.loader import load_recipe

runner = CliRunner()


def _commands(command, path):
    children = getattr(command, "commands", {})
    if not children:
        yield path, command
    for name, child in children.items():
        yield from _commands(child, [*path, name])


COMMANDS = list(_commands(typer.main.get_command(app), []))


def test_the_walk_reaches_every_command():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"run", "eval", "compare", "sweep", "bench", "datasets info", "datasets synth"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_usage_line_shows_argument_metavars(path, command):
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage
    for param in command.params:
        if param.param_type_name == "argument":
            assert param.metavar and param.metavar.isupper(), param.name
            shown = param.metavar if param.required else f"[{param.metavar}]"
            assert f" {shown}" in usage, usage


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_parameter_has_help_that_survives_rich_markup(path, command):
    """Typer renders help as rich markup: an unescaped `[distributed]` would vanish."""
    for text in [command.help, *(param.help for param in command.params)]:
        assert text, (path, command.params)
        assert Text.from_markup(text).plain == text.replace("\\[", "["), text


def test_shell_completion_is_installed_and_offers_commands_and_bundled_recipes():
    assert "--install-completion" in runner.invoke(app, ["--help"]).output

    def complete(line):
        words = line.split(" ")
        env = {"_RANK_COMPLETE": "complete_bash", "COMP_WORDS": line}
        env["COMP_CWORD"] = str(len(words) - 1)
        result = runner.invoke(app, [], env=env, prog_name="rank")
        assert result.exit_code == 0, result.output
        return result.output.split()

    assert complete("rank ru") == ["run", "runs"]
    assert complete("rank datasets sy") == ["synth"]
    assert complete("rank run qu") == ["quickstart"]
    assert complete("rank sweep scale/ml") == ["scale/ml20m-synthetic"]
    assert complete("rank run ./") == []  # no bundled name: the shell completes file names


def test_set_example_in_the_help_fits_the_quickstart():
    help_text = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert f"--set {SET_EXAMPLE}" in help_text
    default = load_recipe("quickstart")
    changed = load_recipe("quickstart", [SET_EXAMPLE])
    assert changed.models[2].label == "EASE"
    assert changed.models[2].params != default.models[2].params
