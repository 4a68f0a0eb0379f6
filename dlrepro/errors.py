"""Errors that are the user's to fix: they carry a message that names the cause and the fix."""


class UserError(Exception):
    """Bad input (config, reproduction file, dataset). Printed without a traceback."""


class Diverged(Exception):
    """A run's loss became NaN or infinite; the run is recorded as `diverged`, not failed."""
