"""Results that show themselves by their verdict: a REPL prints the sentence, not every field."""

from __future__ import annotations

__all__ = ["Described"]


class Described:
    """A base for results with a :meth:`describe` sentence, which is also their ``repr``.

    A result holds its frames, its probe and its scenario; their fields printed in full
    would bury the verdict a user looked for. The fields stay attributes.
    """

    __slots__ = ()

    def describe(self) -> str:
        """The result in words."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.describe()}>"
