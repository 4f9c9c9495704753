"""The one exception type for errors a user causes (bad input, bad files, absent devices)."""


class LinregError(Exception):
    """A user-caused error: the CLI prints it as one `error: ...` line and exits 2."""

    exit_code = 2
