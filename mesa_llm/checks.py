"""Checks of constructor arguments: a wrong type or value fails at construction, naming the fix.

Models, runtimes and caches call these on their arguments so that a mistake (a string
where a number belongs, ``nan``, ``"false"`` for a flag) fails when the object is built,
with a message that names the argument, what it got and what to pass instead, rather
than at the first step with an error from deep inside.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy

__all__ = ["check_bool", "check_instance", "check_int", "check_number", "check_seed"]


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is a bool.

    Raises:
        TypeError: for anything else, such as the text ``"false"`` (which Python reads as true).
    """
    if isinstance(value, bool):
        return value
    hint = ""
    if isinstance(value, str):
        hint = f"; pass {value.strip().lower() in {'1', 'true', 'yes', 'on'}} (without quotes)"
    raise TypeError(f"{name} must be True or False, got {value!r}{hint}.")


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int, if it is a whole number within ``[minimum, maximum]``.

    Raises:
        TypeError: for a value that is not an integer (a bool, a float, text).
        ValueError: for an integer out of range.
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        hint = f"; pass {value.strip()} (without quotes)" if isinstance(value, str) and _is_int(value) else ""
        raise TypeError(f"{name} must be a whole number, got {value!r}{hint}.")
    number = int(value)
    _check_range(name, number, minimum, maximum)
    return number


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
) -> float:
    """``value`` as a float, if it is a finite number within the bounds.

    ``minimum`` and ``maximum`` are inclusive bounds, ``above`` and ``below`` exclusive.

    Raises:
        TypeError: for a value that is not a number (a bool, text).
        ValueError: for NaN, an infinity, or a number out of range.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        hint = (
            f"; pass {value.strip()} (without quotes)" if isinstance(value, str) and _is_float(value) else ""
        )
        raise TypeError(f"{name} must be a number, got {value!r}{hint}.")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {number}.")
    _check_range(name, number, minimum, maximum)
    if above is not None and not number > above:
        raise ValueError(f"{name} must be greater than {above}, got {number}.")
    if below is not None and not number < below:
        raise ValueError(f"{name} must be less than {below}, got {number}.")
    return number


def check_instance[T](name: str, value: Any, kind: type[T], what: str) -> T | None:
    """``value`` if it is None or a ``kind``.

    Args:
        name: the argument's name.
        value: its value.
        kind: the type it must have.
        what: what to pass, for the message ("a networkx Graph or None (for a grid)").

    Raises:
        TypeError: for a value of another type.
    """
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}.")
    return value


def check_seed(rng: Any) -> Any:
    """``rng`` itself, if numpy takes it as a seed or generator (what ``mesa.Model(rng=...)`` takes).

    Raises:
        TypeError: for a bool (which numpy would take for the seed 0 or 1) or another type.
        ValueError: for a negative seed.
    """
    if isinstance(rng, bool):
        raise TypeError(f"rng must be None, a seed (a whole number >= 0) or a numpy Generator, got {rng}.")
    try:
        numpy.random.default_rng(rng)  # a Generator is returned as is: its state is not touched
    except (TypeError, ValueError) as exc:  # numpy's message does not name the parameter
        raise type(exc)(
            f"rng must be None, a seed (a whole number >= 0) or a numpy Generator, got {rng!r}: {exc}."
        ) from None
    return rng


def _check_range(name: str, number: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {number}.")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {number}.")


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _is_float(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
