"""Output bindings for calling functions directly in tests."""

from __future__ import annotations

from typing import Generic, TypeVar

import azure.functions as func

__all__ = ["OutputBinding"]

T = TypeVar("T")


class OutputBinding(func.Out[T], Generic[T]):
    """A ``func.Out`` that keeps what the function sets, as the worker would before sending it."""

    def __init__(self) -> None:
        self.value: T | None = None

    def set(self, val: T) -> None:
        """Keep the output value."""
        self.value = val

    def get(self) -> T:
        """The value set so far."""
        if self.value is None:
            raise LookupError("the function set no output")
        return self.value
