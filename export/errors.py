"""Errors of the export package: user-caused ones exit 2, a parity failure exits 1."""
from __future__ import annotations

from linreg.errors import LinregError


class ExportError(LinregError):
    """An export could not be written (unwritable --out, a folder that is not ours)."""


class ArtifactError(LinregError):
    """An export folder or artifact is missing, truncated, tampered with or of unknown format."""


class RuntimeUnavailableError(LinregError):
    """A requested runtime or execution provider is not present on this machine."""


class ParityError(LinregError):
    """An artifact predicts differently from the state_dict model beyond the tolerance."""

    exit_code = 1

    def __init__(self, message: str, report: str = "") -> None:
        super().__init__(message)
        self.report = report  # the parity table, printed by the CLI before the one-line error
