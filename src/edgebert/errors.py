"""User-facing errors.

Every failure a user can cause (bad path, wrong checkpoint, bad data) is raised as an
:class:`EdgebertError`; the CLI prints it as one line and exits non-zero, never with a
traceback. Anything else escaping is a bug in edgebert and keeps its traceback.
"""

from __future__ import annotations


class EdgebertError(Exception):
    """A problem the user can fix: ``message`` says what is wrong, ``hint`` how to fix it."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message if not self.hint else f"{self.message} ({self.hint})"
        return " ".join(text.split())


class CheckpointError(EdgebertError):
    """A model folder that is missing, not of a supported family, or damaged."""


class DataError(EdgebertError):
    """A data file or split that cannot be used as labelled text."""


class DependencyError(EdgebertError):
    """An optional library or packaged asset that is not installed."""
