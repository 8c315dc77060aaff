"""Errors caused by the user's input: rendered as one line and exit code 2, never a traceback."""


class UserError(Exception):
    """Bad input from the user (recipe, file, option); the message names the problem."""

    exit_code = 2


class RecipeError(UserError):
    """A recipe value that fails validation; `path` is the key path such as `models[1].params.k`."""

    def __init__(self, path: str, message: str, source: str | None = None):
        self.path = path
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path}: {message}" if path else f"{where}{message}")


class DataError(UserError):
    """A dataset that is missing, corrupt or does not match its expected checksum."""
