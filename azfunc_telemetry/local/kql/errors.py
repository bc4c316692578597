"""The single error type raised for every query problem.

Every failure a developer can cause with the query text (bad syntax, an unknown column, an operator
outside the supported subset) surfaces as a :class:`KqlError` carrying the character offset of the
offending token, so tools can point at the exact spot the way the portal's editor underlines it.
"""

from __future__ import annotations

__all__ = ["EvaluationError", "KqlError"]


class KqlError(Exception):
    """A query could not be parsed or evaluated.

    Attributes:
        message: Human-readable description without the position suffix.
        position: 0-based character offset into the query text of the offending token.
    """

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position


class EvaluationError(Exception):
    """A value-level failure (such as adding two strings) found while computing a row.

    Value code does not know where in the query it runs; the evaluator catches this and re-raises
    it as a :class:`KqlError` at the position of the expression being evaluated.
    """
