"""Errors that reach the user as a message, not a traceback."""


class UserError(Exception):
    """Bad input from the user (a file, field or value); the CLI prints it and exits with 2.

    The message must name what is wrong: the file and line, the field, or the value.
    """
