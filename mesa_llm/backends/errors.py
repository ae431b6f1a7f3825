"""The error of a backend that cannot be created."""

__all__ = ["BackendError"]


class BackendError(ValueError):
    """A backend could not be resolved; the message says what to change."""
