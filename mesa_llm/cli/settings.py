"""The scenario settings of ``mesa-llm run``: ``--param name=value``, ``--name value`` and ``--llm-share``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mesa_llm.lab import Parameter, ScenarioSpec

__all__ = ["scenario_settings"]


def scenario_settings(
    spec: ScenarioSpec, params: list[str], extra: list[str], llm_share: float | None
) -> dict[str, Any]:
    """The scenario settings of ``--param name=value`` and ``--name value`` (text) and ``--llm-share``.

    Raises:
        ValueError: for a malformed setting or one given twice.
    """
    pairs: list[tuple[str, Any]] = [_split_param(text) for text in params]
    pairs += _named_settings(extra, spec.parameters())
    if llm_share is not None:
        pairs.append(("llm_share", llm_share))  # typed by typer already
    settings: dict[str, Any] = {}
    for name, value in pairs:
        key = name.replace("-", "_")
        if key in settings:
            raise ValueError(f"The parameter {key} is given twice.")
        settings[key] = value
    return settings


def _split_param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--param takes name=value, got {text!r}.")
    return name, value


def _named_settings(args: list[str], known: Mapping[str, Parameter]) -> list[tuple[str, str]]:
    """``(name, value)`` pairs of ``--name value`` and ``--name=value`` arguments.

    A boolean parameter given without a value (``--torus``) is true.

    Raises:
        ValueError: for an argument that is not an option, or an option without a value.
    """
    pairs = []
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or token == "--":
            raise ValueError(
                f"Unexpected argument {token!r}: set scenario parameters as --name value "
                "or --param name=value."
            )
        name, sep, value = token[2:].partition("=")
        if not sep:
            following = args[i + 1] if i + 1 < len(args) else None
            if following is not None and not following.startswith("--"):
                value = following
                i += 1
            elif getattr(known.get(name.replace("-", "_")), "kind", None) is bool:
                value = "true"
            else:
                raise ValueError(f"The option --{name} needs a value.")
        pairs.append((name, value))
        i += 1
    return pairs
