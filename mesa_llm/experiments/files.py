"""Sweep files: a sweep written as TOML, for ``mesa-llm sweep sweep.toml``.

::

    scenario = "schelling"          # an installed scenario, or path/to/file.py:SPEC
    steps = 50
    seeds = 10                      # 10 seeds (0..9), or a list: [3, 5, 8]
    backend = "rule"                # when backend is not an axis (default: the embedded model)
    temperature = 0.0               # optional

    [fixed]                         # parameters every run shares
    width = 20
    height = 20
    homophily = 0.4

    [axes]                          # the swept factors: lists of values ...
    llm_share = [0.0, 1.0]
    framing = ["neutral", "colours", "social"]

    [axes.backend]                  # ... or tables of name = value
    smollm2 = "local:smollm2"
    gemma3 = "local:gemma3"

    [framings.plain]                # your own prompt framings, by name (then use them in axes)
    system = "You live in a town."
    user = "{same} neighbours are like you, {other} are not. {instructions}"

A relative scenario path is relative to the file's folder.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Final

from mesa_llm.experiments.sweep import Sweep
from mesa_llm.prompts import PromptTemplate

__all__ = ["KEYS", "SweepFileError", "load_sweep_file"]

KEYS: Final = ("scenario", "steps", "seeds", "backend", "temperature", "fixed", "axes", "framings")
"""The top-level keys of a sweep file."""


class SweepFileError(ValueError):
    """A sweep file that cannot be read or describes no valid sweep; the message names the problem."""


def load_sweep_file(path: str | os.PathLike[str]) -> Sweep:
    """The sweep a TOML file describes (see the module's description), checked whole.

    Raises:
        SweepFileError: for a missing or malformed file, an unknown key, or a design the
            sweep refuses (naming the key, the axis or the value).
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SweepFileError(f"Cannot read the sweep file {str(path)!r}: {exc.strerror or exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepFileError(f"The sweep file {str(path)!r} is not valid TOML: {exc}.") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise SweepFileError(
            f"The sweep file {str(path)!r} has the unknown key(s) {', '.join(unknown)}; its keys are "
            f"{', '.join(KEYS)}."
        )
    if "scenario" not in data:
        raise SweepFileError(f'The sweep file {str(path)!r} names no scenario: add scenario = "schelling".')
    fixed = _table(data, "fixed", path)
    framings = _table(data, "framings", path)
    if framings:
        fixed["framings"] = {name: _framing(name, value, path) for name, value in framings.items()}
    arguments: dict[str, Any] = {
        "scenario": _scenario(data["scenario"], path),
        "fixed": fixed,
        "axes": _table(data, "axes", path),
        "seeds": _seeds(data.get("seeds", 10), path),
    }
    for key in ("steps", "backend", "temperature"):
        if key in data:
            arguments[key] = data[key]
    try:
        return Sweep(**arguments)
    except (TypeError, ValueError) as exc:
        raise SweepFileError(f"The sweep of {str(path)!r} is refused: {exc}") from None


def _table(data: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SweepFileError(f"In {str(path)!r}, {key} must be a table ([{key}]), got {value!r}.")
    return dict(value)


def _scenario(value: Any, path: Path) -> str:
    if not isinstance(value, str):
        raise SweepFileError(f"In {str(path)!r}, scenario must be a string, got {value!r}.")
    target, colon, attribute = value.rpartition(":")
    if colon and (target.endswith(".py") or "/" in target) and not Path(target).is_absolute():
        return f"{path.parent / target}:{attribute}"
    if value.endswith(".py") and not Path(value).is_absolute():
        return str(path.parent / value)
    return value


def _seeds(value: Any, path: Path) -> range | list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise SweepFileError(f"In {str(path)!r}, seeds = {value} runs nothing; give at least 1.")
        return range(value)
    if isinstance(value, list):
        return value
    raise SweepFileError(
        f"In {str(path)!r}, seeds must be a number of seeds or a list of them, got {value!r}."
    )


def _framing(name: str, value: Any, path: Path) -> PromptTemplate:
    if not isinstance(value, dict) or "user" not in value or set(value) - {"system", "user"}:
        raise SweepFileError(
            f"In {str(path)!r}, the framing {name!r} must be a table with a user template and optionally "
            f'a system message ([framings.{name}] user = "..."), got {value!r}.'
        )
    return PromptTemplate(system=value.get("system", ""), user=value["user"])
