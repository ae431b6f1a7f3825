"""The generic strategy fits: a probe table's memory-one vector, its nearest named strategy, imitation."""

import json
import math

import pandas as pd
import pytest

from mesa_llm.calibration import PROBE_COLUMNS, wilson_interval
from mesa_llm.calibration.strategy import (
    MEMORY_ONE_STATES,
    NAMED_STRATEGIES,
    MemoryOne,
    fit_imitation,
    fit_memory_one,
)


def table(points, source="scored"):
    """A probe table of cooperate/defect points: coordinates, P(cooperate), its interval and answers."""
    rows = []
    for index, (coordinates, p, low, high, answers) in enumerate(points):
        for action, q, lo, hi in (("cooperate", p, low, high), ("defect", 1 - p, 1 - high, 1 - low)):
            rows.append(
                {
                    **coordinates,
                    "point": index,
                    "action": action,
                    "p": q,
                    "ci_low": lo,
                    "ci_high": hi,
                    "answers": answers,
                    "fallbacks": 0,
                    "source": source,
                }
            )
    return pd.DataFrame(rows, columns=[*points[0][0], *PROBE_COLUMNS])


def memory_table(vector, width=0.0, answers=1, source="scored", states=MEMORY_ONE_STATES):
    return table(
        [({"state": s}, p, p - width, p + width, answers) for s, p in zip(states, vector, strict=True)],
        source,
    )


def test_the_vector_and_intervals_are_read_by_state_whatever_the_order():
    vector = (0.9, 0.8, 0.3, 0.6, 0.1)
    shuffled = memory_table(
        [vector[i] for i in (3, 0, 4, 1, 2)],
        0.05,
        20,
        "sampled",
        [MEMORY_ONE_STATES[i] for i in (3, 0, 4, 1, 2)],
    )
    fit = fit_memory_one(shuffled)
    assert fit.vector == pytest.approx(vector)
    assert fit.ci_low == pytest.approx([p - 0.05 for p in vector])
    assert fit.ci_high == pytest.approx([p + 0.05 for p in vector])
    assert fit.answers == (20,) * 5
    assert fit.source == "sampled"
    assert fit.level == 0.95


@pytest.mark.parametrize("name", sorted(NAMED_STRATEGIES))
def test_each_named_strategy_is_its_own_nearest_at_distance_0(name):
    fit = fit_memory_one(memory_table(NAMED_STRATEGIES[name]))
    assert (fit.nearest, fit.distance) == (name, 0.0)
    assert fit.distances[name] == 0.0
    assert all(d == 1.0 for other, d in fit.distances.items() if other != name)  # they differ by a whole move


def test_the_distance_is_the_largest_difference_of_one_probability():
    fit = fit_memory_one(memory_table((0.98, 1.0, 0.02, 0.97, 0.1)))
    assert fit.nearest == "TFT"
    assert fit.distance == pytest.approx(0.1)
    assert fit.distances["GRIM"] == pytest.approx(0.97)
    assert (
        fit.describe() == "memory-one (0.98; 1.00, 0.02, 0.97, 0.10): nearest TFT at distance 0.10 (max-abs)"
    )


def test_a_tie_goes_to_the_first_named_strategy():
    fit = fit_memory_one(memory_table((1.0, 1.0, 0.0, 0.5, 0.5)))  # 0.5 from TFT, WSLS and GRIM
    assert fit.nearest == "TFT"
    assert fit.distances["WSLS"] == fit.distances["GRIM"] == fit.distance == 0.5


def test_a_state_without_an_answer_is_not_classified():
    fit = fit_memory_one(memory_table((1.0, math.nan, 0.0, 1.0, 0.0)))
    assert fit.nearest is None
    assert math.isnan(fit.distance)
    assert fit.describe().endswith("not classified, no valid answer at CC")
    assert json.loads(json.dumps(fit.to_dict()))["vector"]["CC"] is None


def test_the_fit_is_json_ready():
    fit = fit_memory_one(memory_table((0.9, 0.8, 0.3, 0.6, 0.1), 0.05, 20, "sampled"))
    summary = json.loads(json.dumps(fit.to_dict()))
    assert summary["vector"] == dict(zip(MEMORY_ONE_STATES, (0.9, 0.8, 0.3, 0.6, 0.1), strict=True))
    assert summary["nearest"] == "TFT"
    assert summary["metric"].startswith("max-abs")
    assert set(summary["distances"]) == set(NAMED_STRATEGIES)


@pytest.mark.parametrize(
    ("states", "words"),
    [(MEMORY_ONE_STATES[:4], "DD is missing or repeated"), (("first", "CC", "CC", "DC", "DD"), "CC, CD are")],
)
def test_a_table_without_each_state_once_is_refused(states, words):
    with pytest.raises(ValueError, match=words):
        fit_memory_one(memory_table((1.0,) * len(states), states=states))


def test_a_table_without_the_state_or_the_action_is_refused():
    with pytest.raises(ValueError, match="no column 'round'"):
        fit_memory_one(memory_table((1.0,) * 5), state="round")
    with pytest.raises(ValueError, match="no action 'help'"):
        fit_memory_one(memory_table((1.0,) * 5), action="help")


def test_a_vector_reads_back_from_its_text_and_gives_the_state_probability():
    vector = MemoryOne(0.1, 0.2, 0.3, 0.4, 0.5)
    assert MemoryOne.parse(vector.text()) == vector
    assert MemoryOne.parse(vector.describe()) == pytest.approx(vector, abs=0.005)
    assert MemoryOne.parse("grim ".upper().strip()) == NAMED_STRATEGIES["GRIM"]
    assert [vector.after(own, partner) for own in (True, False) for partner in (True, False)] == [
        0.2,
        0.3,
        0.4,
        0.5,
    ]


@pytest.mark.parametrize("value", ["1,1,1,1", "1,1,1,1,1,1", "1,1,1,1,-0.1", "x", "inf,1,1,1,1"])
def test_bad_text_is_a_value_error_with_the_form(value):
    with pytest.raises(
        ValueError, match=r"a memory-one strategy must be five probabilities .*\(e\.g\. '1,1,0,1,0'"
    ):
        MemoryOne.parse(value)


# --------------------------------------------------------------------------- imitation
def imitation_table(matches, answers=1):
    """Points of given P(best scorer's move): the best cooperates at even points; own moves alternate by 2."""
    points = []
    for i, p in enumerate(matches):
        best = "cooperate" if i % 2 == 0 else "defect"
        p_cooperate = p if best == "cooperate" else 1 - p
        coordinates = {"own_move": "cooperate" if i % 4 < 2 else "defect", "best_move": best}
        points.append((coordinates, p_cooperate, p_cooperate, p_cooperate, answers))
    return table(points)


def test_the_rate_pools_the_probability_of_the_best_scorers_move_with_a_wilson_interval():
    matches = [1.0, 0.9, 0.8, 1.0, 0.7, 1.0, 0.9, 1.0]
    fit = fit_imitation(imitation_table(matches, answers=10))
    assert fit.rate == pytest.approx(sum(matches) / 8)
    assert fit.rate_ci == pytest.approx(wilson_interval(sum(matches) * 10, 80))
    switching = [m for i, m in enumerate(matches) if (i % 2 == 0) != (i % 4 < 2)]
    assert fit.switch_rate == pytest.approx(sum(switching) / len(switching))
    assert (fit.verdict, fit.answers, fit.points) == ("imitates", 80, 8)
    assert fit.describe().startswith("copies the best-scoring neighbour: 0.91 [")


@pytest.mark.parametrize(
    ("matches", "verdict", "start"),
    [
        ([0.0] * 8, "contrary", "plays against the best-scoring neighbour: 0.00"),
        ([0.5] * 8, "no imitation", "no sign of imitation: 0.50"),
        ([1.0, 0.0] * 4, "no imitation", "no sign of imitation: 0.50"),
    ],
)
def test_the_verdict_compares_the_interval_with_the_baseline(matches, verdict, start):
    fit = fit_imitation(imitation_table(matches))
    assert fit.verdict == verdict
    assert fit.describe().startswith(start)
    assert json.loads(json.dumps(fit.to_dict()))["verdict"] == verdict


def test_few_answers_do_not_make_a_verdict():
    assert fit_imitation(imitation_table([1.0, 1.0])).verdict == "no imitation"  # [0.34, 1.0] holds 0.5


def test_an_imitation_table_without_its_coordinates_is_refused():
    with pytest.raises(ValueError, match="no column 'leader'"):
        fit_imitation(imitation_table([1.0] * 4), best="leader")
