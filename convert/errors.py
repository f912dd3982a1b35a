"""The one error type the CLI turns into a clear message and a non-zero exit."""


class ConversionError(Exception):
    """Something the user must fix; the message says what and how."""
