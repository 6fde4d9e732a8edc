"""Errors that reach the user as one line of text instead of a traceback."""


class UserInputError(Exception):
    """Bad input from the user.

    Its message is ONE line naming the problem and the fix (the flag to change, the command to
    rerun); the CLI prints it as is, without a traceback.
    """


class ConfigError(UserInputError, ValueError):
    """Impossible or contradictory parameters (a spec that cannot be generated)."""


class DataError(UserInputError):
    """Data on disk that cannot be used as it is: missing, corrupt, foreign or for another spec."""
