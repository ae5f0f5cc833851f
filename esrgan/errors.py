"""The one exception type users see: the command line prints its message on one line and exits non-zero."""


class ESRGANError(Exception):
    """A problem with the user's input (file, checkpoint, config value), not a bug in this package."""
