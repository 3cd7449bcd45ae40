"""Errors raised for bad input. Every message names the problem and the fix."""

from typing import Any


class NBExplainError(ValueError):
    """Bad input to nbexplain: the message says what is wrong and how to fix it."""


def user_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` that points at the first frame outside
    nbexplain (the user's line), however deep inside the package the warning is raised; so
    Python's default filter shows it for each line of user code that triggers it."""
    import os
    import sys

    pkg = os.path.dirname(os.path.abspath(__file__))
    frame: Any = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(pkg):
        frame, level = frame.f_back, level + 1
    return level
