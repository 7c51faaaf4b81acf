"""Exception hierarchy of targetsel.

Every error a user can cause derives from :class:`TargetselError`. The CLI turns any of them into
one line on stderr and exit status 2; library callers can catch the base class or a subclass.
"""

from __future__ import annotations

__all__ = [
    "ArtifactMismatchError",
    "ConfigurationError",
    "IncompleteArtifactError",
    "InvalidDataError",
    "MissingArtifactError",
    "RankStoppedError",
    "TargetselError",
]


class TargetselError(Exception):
    """Base class of every error raised on purpose by targetsel."""


class ConfigurationError(TargetselError, ValueError):
    """A parameter or option has an invalid value (e.g. a budget larger than the pool)."""


class InvalidDataError(TargetselError, ValueError):
    """Input data is malformed (bad JSON, missing messages, unknown role, NaN features...)."""


class MissingArtifactError(TargetselError, FileNotFoundError):
    """A file or directory the operation needs does not exist."""


class ArtifactMismatchError(TargetselError):
    """An artifact on disk was made for other inputs or settings than the ones requested."""


class IncompleteArtifactError(TargetselError):
    """An artifact on disk is only partly written (an interrupted run); rerun to resume."""


class RankStoppedError(TargetselError):
    """Under torchrun: another rank failed and reported it; this rank stops (the CLI exits 2 silently)."""
