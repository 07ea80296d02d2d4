"""Problems a user can fix; the CLI prints them as one clear line (a list where files are named).

Exit codes of `saliency`: 0 done; 2 a usage error or bad input, nothing (more) done; 3 finished,
except for the bad files listed (PartlyDone); 130 interrupted (rerun to resume)."""


class UserError(Exception):
    """Bad input or missing files: the message names the file and the fix."""


class PartlyDone(UserError):
    """The command finished its work except for some bad inputs, which the message lists: exit
    code 3, so scripts tell it from a usage error (2) and from success (0)."""


def plural(n: int, noun: str) -> str:
    """`1 image`, `2 images`: counts in messages read as English."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
