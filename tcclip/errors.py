"""One exception type for every user-facing input problem.

Its message is a single line that names the file, key or value and says what is
expected; the CLI prints it without a traceback.
"""


class TcclipError(Exception):
    """Bad user input (config, file, dataset, weights): message is shown as is."""


class ConfigError(TcclipError, ValueError):
    """A configuration key or value is wrong."""
