"""Errors that end a command with exit code 2 and one line (DESIGN.md's CLI contract).

``UsageError``: a mistake in how mfile was called or in what it was pointed at (an output
path that is a file, a run directory being submitted right now), not in the M-File. Lives
here rather than in cli.py so that codegen and the runtime can raise it without importing
the command line.
"""


class UsageError(Exception):
    """Exit 2 with ``mfile: error: <message>``."""
