"""The one exception type the CLI turns into a one-line message and exit status 1."""


class ExportError(Exception):
    """A problem with the inputs or the environment, reported without a traceback."""
