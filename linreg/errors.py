"""The one exception type for errors a user causes (bad input, bad files, absent devices)."""
from __future__ import annotations

import difflib
from typing import Iterable


class LinregError(Exception):
    """A user-caused error: the CLI prints it as one `error: ...` line and exits 2."""

    exit_code = 2


def first_line(text: object, default: str = "", limit: int | None = 200) -> str:
    """The first line of str(text), stripped and cut to `limit` characters; `default` when blank."""
    return (str(text).strip().splitlines() or [default])[0][:limit]


def exception_line(exc: BaseException, limit: int | None = 200) -> str:
    """An exception's message as one short line, or its type's name when the message is blank."""
    return first_line(exc, type(exc).__name__, limit)


def did_you_mean(word: str, known: Iterable[str], noun: str | None = "keys") -> str:
    """' (did you mean X?)' for the closest of `known` (difflib), else ' (known <noun>: ...)', or ''
    when `noun` is None. One helper, so a typo in a TOML key, a subcommand, an option or a runtime
    name reads the same everywhere."""
    known = list(known)
    close = difflib.get_close_matches(word, known, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known {noun}: {', '.join(known)})" if noun and known else ""
