"""What a sweep's design is known by, and whether it can travel.

A sweep's folder knows its design again by a description of it (:func:`described`:
JSON-compatible data, objects by their identity); a run sent to a worker process travels
pickled, and :func:`check_sendable` says at once, before any run starts, which value
cannot.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from collections.abc import Iterable, Mapping
from typing import Any

from mesa_llm.backends import backend_identity, is_chat_model
from mesa_llm.lab import ScenarioSpec

__all__ = ["check_sendable", "described"]

_PICKLE_FIX = "define its functions and classes at module level (not a lambda, nor inside a function)"


def described(value: Any, where: str) -> Any:
    """A JSON-compatible description of a parameter's value (objects by their identity).

    A chat model is described by its backend identity (its class and the settings that
    change its answers, so it need not pickle), a dataclass by its fields, and any other
    object by its type and the digest of its pickle.

    Raises:
        ValueError: for an object (not a chat model) that cannot be pickled, named by ``where``.
    """
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if is_chat_model(value):
        return {"chat_model": backend_identity(value)}
    if isinstance(value, Mapping) and all(isinstance(k, str | int) for k in value):
        return {str(k): described(v, where) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [described(v, where) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: described(getattr(value, f.name), where) for f in dataclasses.fields(value)}
        return {"object": f"{type(value).__module__}.{type(value).__qualname__}", **fields}
    try:
        data = pickle.dumps(value, protocol=5)
    except Exception as exc:
        raise ValueError(
            f"{where} ({value!r}) cannot be pickled ({exc}), so the sweep's folder has no identity for it "
            f"by which to know the sweep again when it resumes: {_PICKLE_FIX}, or run the sweep without "
            "a folder (out=None)."
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    return {"object": f"{type(value).__module__}.{type(value).__qualname__}", "sha256": digest}


def check_sendable(given: Iterable[tuple[str, Any]]) -> None:
    """Check that values can be sent to worker processes: each pickles.

    Args:
        given: the values, each with how an error names it (``"The backend 'rule'"``).

    Raises:
        ValueError: naming the first value that cannot be pickled, and the fix.
    """
    for where, value in given:
        try:
            pickle.dumps(value, protocol=5)
        except Exception as exc:
            shown, folder = (f" ({value!r})", " and without a folder (out=None), which needs the pickle too")
            if isinstance(value, ScenarioSpec):  # a folder names it by its reference
                shown, folder = "", ""
            elif is_chat_model(value):
                shown = ""
                folder = ", with a folder too: it knows a chat model by its identity, not its pickle"
            raise ValueError(
                f"{where}{shown} cannot be pickled ({exc}), so it cannot "
                f"be sent to a worker process: {_PICKLE_FIX}, or run the sweep in this process "
                f"(workers=1, no executor){folder}."
            ) from None
