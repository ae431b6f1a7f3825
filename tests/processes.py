"""Starting the command line as a user's terminal would, for tests that press Ctrl-C."""

import sys

# A shell starts background jobs with SIGINT ignored, and a child inherits that: a test
# suite run as `... &` would start commands that Ctrl-C (SIGINT) cannot stop. This resets it.
_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def interruptible(argv: list[str]) -> list[str]:
    """``argv`` run with SIGINT's default action, whatever this process inherited."""
    return [sys.executable, "-c", _DEFAULT_SIGINT, *argv]
