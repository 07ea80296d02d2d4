"""One exception type for problems a user can fix; the CLI prints it as a single clear line."""


class UserError(Exception):
    """Bad input or missing files: the message names the file and the fix."""
