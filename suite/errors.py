"""Exceptions whose message is a single line naming the thing and the fix."""


class DnasError(Exception):
    """Base class of the suite's own errors; the CLI prints them as one line."""


class FormatError(DnasError, ValueError):
    """A file exists but is not what it should be (corrupt, truncated, wrong version or space)."""


class MissingFileError(DnasError, FileNotFoundError):
    """A file the suite needs is absent; the message says where to get it."""


class NonFiniteLoss(DnasError):
    """A loss became NaN or inf; the run stopped and recorded it (CLI exit status 3)."""
