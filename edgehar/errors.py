"""Errors edgehar raises for bad input; the CLI prints them as one clear line."""

EXCERPT_CHARS = 40


class EdgeharError(Exception):
    """Base of every error that is the user's input, not a bug."""


class DataError(EdgeharError):
    """A data file is missing or malformed; the message names the file (and line)."""


class BundleError(EdgeharError):
    """A model bundle is missing, incomplete or of an unknown schema."""


class ExportError(EdgeharError):
    """A model cannot be converted or does not meet what the target needs."""


class SourceError(EdgeharError):
    """A live sensor source cannot be opened or read."""


class OptionError(EdgeharError):
    """A command-line option has a value the command cannot use; the message lists valid ones."""


def excerpt(value, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters: what an error message may quote of the input."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
