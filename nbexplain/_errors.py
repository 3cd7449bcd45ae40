"""Errors raised for bad input. Every message names the problem and the fix."""


class NBExplainError(ValueError):
    """Bad input to nbexplain: the message says what is wrong and how to fix it."""
