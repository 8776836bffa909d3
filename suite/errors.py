"""Exceptions whose message is a single line naming the thing and the fix."""


class DnasError(Exception):
    """Base class of the suite's own errors; the CLI prints them as one line."""


class InvalidInput(DnasError, ValueError):
    """A bad value from the user (an argument, a config entry, a name, a setting); a ValueError too."""


class NotFound(DnasError, KeyError):
    """Something looked up that is not there (an architecture, dataset, metric, record or table); a
    KeyError too, whose message reads as written (not quoted)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class WrongType(DnasError, TypeError):
    """An argument of the wrong type; a TypeError too."""


class FormatError(DnasError, ValueError):
    """A file exists but is not what it should be (corrupt, truncated, wrong version or space)."""


class MissingFileError(DnasError, FileNotFoundError):
    """A file the suite needs is absent; the message says where to get it."""


class NonFiniteLoss(DnasError):
    """A loss became NaN or inf; the run stopped and recorded it (CLI exit status 3)."""
