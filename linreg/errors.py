"""The one exception type for errors a user causes (bad input, bad files, absent devices)."""


class LinregError(Exception):
    """A user-caused error: the CLI prints it as one `error: ...` line and exits 2."""

    exit_code = 2


def first_line(text: object, default: str = "", limit: int | None = 200) -> str:
    """The first line of str(text), stripped and cut to `limit` characters; `default` when blank."""
    return (str(text).strip().splitlines() or [default])[0][:limit]


def exception_line(exc: BaseException, limit: int | None = 200) -> str:
    """An exception's message as one short line, or its type's name when the message is blank."""
    return first_line(exc, type(exc).__name__, limit)
