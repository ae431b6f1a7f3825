"""Time of ``ActionSpace.parse`` against the answer's length, for adversarial answers.

Hostile or broken answers must be rejected quickly, whatever their size: parsing must take
time linear in the length. Each input below is built at 10K, 100K and 1M characters and
parsed by a choice space (``Literal["stay", "move"]``) and a structured space (a pydantic
model with ``target: int`` and ``topic: Literal["news", "rumour"]``). Each measurement is
wall time (``perf_counter``, after an untimed full garbage collection), the best of
``ROUNDS`` rounds, the rounds interleaving the inputs. ``growth`` is the time at a length
over the time at the previous one: 10 is linear, 100 quadratic.

* braces: ``{{{{...``; the parser before issue 11 decoded JSON from every ``{``, and each
  failed decode counted the lines before it: 0.16 s at 25K, 1.8-2.6 s at 100K, 341 s at 1M;
* nested JSON: ``{"a":{"a":...``, which made the old parser raise RecursionError;
* JSON fragments: an unclosed array of objects and strings holding braces and quotes;
* quotes: ``"{\\"`` repeated, strings and escapes around braces;
* negated option: ``I will not stay`` repeated (every mention is checked);
* two options: ``stay move`` repeated;
* markers: ``. final answer:`` repeated, each with an empty answer;
* prose: a sentence of reasoning naming both options, repeated.

    python benchmarks/parse_scaling.py [--lengths 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Literal

from _common import print_table, timed, write_results
from pydantic import BaseModel

from mesa_llm import ActionParseError, ActionSpace

LENGTHS = (10_000, 100_000, 1_000_000)
ROUNDS = 3
# What a rejection says, as shown in the table.
REASONS = ("names none", "names several", "negates an option", "no JSON object", "does not match")


class Tell(BaseModel):
    """The structured action: tell agent ``target`` the ``topic``."""

    target: int
    topic: Literal["news", "rumour"]


SPACES = {
    "choice": ActionSpace(Literal["stay", "move"], fallback="stay"),
    "structured": ActionSpace(Tell, fallback=Tell(target=0, topic="news")),
}


def repeated(unit: str, head: str = "") -> Callable[[int], str]:
    """A builder of ``head`` followed by ``unit`` repeated, cut to a given length."""
    return lambda length: (head + unit * (length // len(unit) + 1))[:length]


INPUTS = {
    "braces": repeated("{"),
    "nested JSON": repeated('{"a":'),
    "JSON fragments": repeated('{"b": {}}, "\\"}{", ', head='{"a": ['),
    "quotes": repeated('"{\\"'),
    "negated option": repeated("I will not stay "),
    "two options": repeated("stay move "),
    "markers": repeated(". final answer: "),
    "prose": repeated("Staying is safe, but if I move I might find better neighbours; stay or move? "),
}


def parse_time(space: ActionSpace, text: str) -> tuple[float, str]:
    """Wall seconds of ``space.parse(text)``, and the outcome: the action's label or why it was rejected."""
    outcome = ""

    def parse() -> None:
        nonlocal outcome
        try:
            outcome = space.label(space.parse(text))
        except ActionParseError as exc:
            outcome = next((reason for reason in REASONS if reason in str(exc)), "ActionParseError")

    return timed(parse)[1], outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    lengths = parser.parse_args().lengths
    texts = {(name, length): build(length) for name, build in INPUTS.items() for length in lengths}
    best: dict[tuple[str, str, int], float] = {}
    outcomes: dict[tuple[str, str, int], str] = {}
    for _ in range(ROUNDS):
        for (name, length), text in texts.items():
            for kind, space in SPACES.items():
                seconds, outcomes[name, kind, length] = parse_time(space, text)
                best[name, kind, length] = min(seconds, best.get((name, kind, length), seconds))
    rows = []
    for name in INPUTS:
        for kind in SPACES:
            previous = None
            for length in lengths:
                seconds = best[name, kind, length]
                rows.append(
                    {
                        "input": name,
                        "space": kind,
                        "length": length,
                        "ms": 1000 * seconds,
                        "ns_per_char": 1e9 * seconds / length,
                        "growth": None if previous is None else seconds / previous,
                        "outcome": outcomes[name, kind, length],
                    }
                )
                previous = seconds
    print_table(rows, ["input", "space", "length", "ms", "ns_per_char", "growth", "outcome"])
    write_results(
        "parse_scaling",
        {
            "lengths": lengths,
            "rounds": ROUNDS,
            "inputs": list(INPUTS),
            "spaces": {kind: repr(space) for kind, space in SPACES.items()},
            "timing": "wall time of one parse, best of the rounds",
        },
        rows,
    )


if __name__ == "__main__":
    main()
