"""The one exception the CLI turns into a one-line message and an exit code."""


class ScaffoldError(Exception):
    """A problem the user can fix; ``str(error)`` says what and how."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
