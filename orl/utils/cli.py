"""What every ``python -m orl...`` command does at its edges, in one place."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

#: exit status of a command stopped by Ctrl-C (128 + SIGINT, as a shell reports it)
INTERRUPTED = 130


def run_cli(main: Callable[[], int]) -> int:
    """``main()``'s exit status, with stdout flushed inside, so that a reader that closed the pipe
    early (``python -m orl.diagnose ... | head -1``) ends the command quietly instead of with a
    ``BrokenPipeError`` traceback.

    The idiom of Python's documentation (``signal`` module, "Note on SIGPIPE"): point stdout at
    ``/dev/null`` so the interpreter's final flush cannot fail again, and exit with status 1 (the
    output was not all delivered).
    """
    try:
        status = main()
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
