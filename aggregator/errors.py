"""One exception tree for the whole package."""

from __future__ import annotations


class AggregatorError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(AggregatorError):
    """The configuration file is unusable; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class SourceError(AggregatorError):
    """A source could not be refreshed."""


class FetchError(SourceError):
    """The HTTP exchange failed (network, status, size, timeout)."""

    def __init__(self, message: str, *, status: int | None = None):
        self.status = status
        super().__init__(message)


class ParseError(SourceError):
    """The bytes were fetched but are not a feed we can read."""


class SeedError(SourceError):
    """A seed document could not be read."""


class StoreError(AggregatorError):
    """The database refused an operation."""


class LockedError(StoreError):
    """Another process holds the database's exclusive lock; ``role`` says what it does there
    (``lock.ROLE``, ``lock.UPGRADE_ROLE``), None when that is not known."""

    def __init__(self, message: str, *, role: str | None = None):
        self.role = role
        super().__init__(message)


def driver_message(error: BaseException) -> str:
    """The first line of what the database driver said (``connection failed: … Connection
    refused``, ``database or disk is full``) for a SQLAlchemy error, without SQLAlchemy's
    dump of the statement and its web page; for any other error its own first line."""
    orig = getattr(error, "orig", None)
    text = str(orig if orig is not None else error).strip()
    return text.splitlines()[0] if text else type(error).__name__
