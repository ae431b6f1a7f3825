"""The threshold fit on probe tables whose truth is known: steps, curves, flat, inverted, coverage."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from mesa_llm.calibration import fit_threshold
from tests.calibration.models import logistic


def compositions(cells: int = 8):
    """(same, other) of every composition with an occupied neighbour."""
    return [(s, o) for s in range(cells + 1) for o in range(cells + 1 - s) if s + o]


def table(p_move, *, answers=1, source="scored"):
    """A probe table of P(move) = p_move(same, other) at every composition of 8 cells."""
    rows = []
    for point, (same, other) in enumerate(compositions()):
        p = p_move(same, other)
        for action, value in (("stay", 1.0 - p), ("move", p)):
            rows.append(
                {
                    "same": same,
                    "other": other,
                    "empty": 8 - same - other,
                    "similarity": same / (same + other),
                    "point": point,
                    "action": action,
                    "p": value,
                    "ci_low": value,
                    "ci_high": value,
                    "answers": answers,
                    "fallbacks": 0,
                    "source": source,
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("threshold", [0.3, 0.45, 0.6])
def test_a_step_is_recovered_within_its_gap(threshold):
    fit = fit_threshold(table(lambda s, o: float(s / (s + o) < threshold)))
    assert fit.verdict == "threshold"
    assert fit.step
    assert abs(fit.threshold - threshold) <= 0.05
    low, high = fit.threshold_ci
    assert low < threshold <= high  # the gap between the largest share that moves and the smallest that stays
    assert fit.describe().startswith(f"threshold t* = {fit.threshold:.2f}")


def test_a_logistic_curve_is_recovered_exactly():
    b0, b1 = 3.0, -7.5  # t* = 0.4
    fit = fit_threshold(table(lambda s, o: logistic(b0 + b1 * s / (s + o))))
    assert fit.verdict == "threshold"
    assert not fit.step
    assert fit.threshold == pytest.approx(0.4, abs=1e-6)
    assert fit.slope == pytest.approx(b1, abs=1e-6)
    assert fit.intercept == pytest.approx(b0, abs=1e-6)
    assert fit.threshold_ci[1] - fit.threshold_ci[0] < 1e-4  # exact probabilities: no spread
    assert fit.prefers == "share"


def test_answers_that_follow_the_counts_prefer_the_counts_fit():
    fit = fit_threshold(table(lambda s, o: logistic(1.5 - 0.9 * s + 0.4 * o)))
    assert fit.prefers == "counts"
    assert fit.aic_counts < fit.aic_share


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_the_same_answer_everywhere_is_flat(p):
    fit = fit_threshold(table(lambda s, o: p))
    assert fit.verdict == "flat"
    assert math.isnan(fit.threshold)
    assert fit.describe().startswith("no threshold: P(move) is flat")
    assert fit.mean_p == pytest.approx(p)


def test_a_slope_whose_interval_contains_zero_is_flat():
    rng = np.random.default_rng(3)
    noise = {point: rng.uniform(0.3, 0.7) for point in compositions()}
    fit = fit_threshold(table(lambda s, o: noise[(s, o)]))
    assert fit.slope_ci[0] < 0 < fit.slope_ci[1]
    assert fit.verdict == "flat"


def test_moving_when_similar_is_inverted():
    assert fit_threshold(table(lambda s, o: logistic(-3 + 7 * s / (s + o)))).verdict == "inverted"
    assert fit_threshold(table(lambda s, o: float(s / (s + o) > 0.5))).verdict == "inverted"


def test_a_curve_on_one_side_of_one_half_never_crosses():
    fit = fit_threshold(table(lambda s, o: logistic(-1 - 2 * s / (s + o))))
    assert fit.verdict == "never crosses"
    assert fit.slope < 0
    assert "never crosses 0.5" in fit.describe()


def test_the_interval_of_sampled_answers_covers_the_truth():
    """Binomial answer counts from a known curve: the 95% intervals cover t* and b1 in >= 90% of 50 seeds."""
    b0, b1, samples = 2.0, -5.0, 20  # t* = 0.4
    covered_t = covered_b1 = 0
    for seed in range(50):
        rng = np.random.default_rng(seed)
        draws = {
            point: rng.binomial(samples, logistic(b0 + b1 * point[0] / sum(point))) / samples
            for point in compositions()
        }
        fit = fit_threshold(table(lambda s, o, d=draws: d[(s, o)], answers=samples, source="sampled"))
        covered_t += fit.threshold_ci[0] <= 0.4 <= fit.threshold_ci[1]
        covered_b1 += fit.slope_ci[0] <= b1 <= fit.slope_ci[1]
    assert covered_t >= 45
    assert covered_b1 >= 45


def test_points_without_a_share_are_left_out_and_errors_name_the_problem():
    frame = table(lambda s, o: float(s / (s + o) < 0.5))
    alone = frame.iloc[:2].assign(same=0, other=0, similarity=math.nan, p=[0.0, 1.0])
    assert fit_threshold(pd.concat([frame, alone])).points == len(compositions())
    with pytest.raises(ValueError, match="no action 'leave'"):
        fit_threshold(frame, action="leave")
    with pytest.raises(ValueError, match="no column 'share'"):
        fit_threshold(frame, share="share")


def test_a_fit_is_json_ready():
    fit = fit_threshold(table(lambda s, o: float(s / (s + o) < 0.3)))
    data = json.loads(json.dumps(fit.to_dict()))
    assert data["verdict"] == "threshold"
    assert data["slope"] is None
    assert data["threshold_ci"] == list(fit.threshold_ci)
