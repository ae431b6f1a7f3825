"""Round trips: the implied rule runs back through rule residents, against the LLM population."""

import json
import warnings
from dataclasses import dataclass, field

import pytest
from langchain_core.messages import BaseMessage

from mesa_llm import FunctionChatModel, ScoringChatModel
from mesa_llm.calibration import probe_scenario, round_trip
from mesa_llm.runtime import ArgmaxWarning
from mesa_llm_models.schelling.rule_backend import SchellingRuleAnswer
from tests.calibration.models import NoisyLogistic, logistic_scorer

SMALL = {"width": 12, "height": 12}


def test_the_rule_following_model_is_reproduced_by_its_implied_threshold(tmp_path):
    result = probe_scenario("schelling", backend="rule", parameters={**SMALL, "homophily": 0.3})
    trip = round_trip(result, seeds=range(4), steps=15, out=tmp_path)
    assert trip.verdicts == {"threshold": "reproduces"}
    assert set(trip.summary["population"]) == {"llm", "threshold"}
    assert (trip.comparisons["diff"] == 0).all()
    assert "reproduces the LLM population" in trip.describe()
    paths = trip.write(tmp_path)
    assert json.loads(paths["verdicts"].read_text())["verdicts"] == {"threshold": "reproduces"}
    assert (tmp_path / "llm" / "sweep.json").exists()  # each population's sweep, resumable


def test_the_logistic_residents_reproduce_a_scoring_model_exactly():
    """Logistic residents draw their moves as LLM residents draw from a scoring model's probabilities."""
    result = probe_scenario("schelling", backend=logistic_scorer(2.0, -5.0), parameters=SMALL)
    trip = round_trip(result, seeds=range(3), steps=10)
    logistic = trip.comparisons[trip.comparisons["population"] == "logistic"]
    assert (logistic["diff"].abs() < 1e-12).all()
    assert trip.verdicts["logistic"] == "reproduces"


@pytest.mark.parametrize(("b0", "b1", "deterministic"), [(1.75, -5.0, "threshold"), (-1.4, 0.0, "threshold")])
def test_residents_taking_the_most_probable_answer_are_reproduced_by_the_deterministic_rule(
    b0, b1, deterministic
):
    """At temperature 0 an LLM resident takes the argmax, as the threshold residents do (not the logistic)."""
    argmax = logistic_scorer(b0, b1).model_copy(update={"temperature": 0.0})
    result = probe_scenario("schelling", backend=argmax, parameters=SMALL)
    trip = round_trip(result, seeds=range(3), steps=10)
    by_population = trip.comparisons.groupby("population")["diff"]
    assert (by_population.get_group(deterministic) == 0).all()
    assert trip.verdicts[deterministic] == "reproduces"
    assert (by_population.get_group("logistic") != 0).any()  # drawing residents move otherwise


@dataclass
class ForgetsAfter:
    """Follows Schelling's rule at 0.3 for its first ``calls`` answers, then always stays: a history."""

    calls: int
    seen: list[int] = field(default_factory=lambda: [0])

    def __call__(self, messages: list[BaseMessage]) -> str:
        self.seen[0] += 1
        return SchellingRuleAnswer(0.3)(messages) if self.seen[0] <= self.calls else "stay"


def test_a_model_that_uses_more_than_the_observation_is_not_reproduced():
    backend = FunctionChatModel(fn=ForgetsAfter(45), model_name="forgets")
    result = probe_scenario("schelling", backend=backend, parameters={**SMALL, "homophily": 0.3})
    assert result.fit.verdict == "threshold"
    trip = round_trip(result, seeds=range(5), steps=15, parameters={"homophily": 0.6})
    assert trip.verdicts == {"threshold": "does not"}
    assert "uses more than the probed observation" in trip.describe()


def inverted(messages: list[BaseMessage]) -> str:
    """Moves when at least half its neighbours are of its own group."""
    return "stay" if SchellingRuleAnswer(0.5)(messages) == "I will MOVE." else "move"


def test_a_fit_without_a_rule_is_refused():
    result = probe_scenario("schelling", backend=FunctionChatModel(fn=inverted, model_name="inverted"))
    assert result.fit.verdict == "inverted"
    with pytest.raises(ValueError, match="implies no rule population"):
        round_trip(result, seeds=range(2), steps=2)


def test_a_model_that_always_moves_is_run_back_as_residents_that_always_move():
    result = probe_scenario("schelling", backend=FunctionChatModel(fn=lambda m: "move", model_name="mover"))
    assert result.probe.rules(result.fit) == {"logistic": {"move_intercept": 50.0, "move_slope": 0.0}}
    trip = round_trip(result, seeds=range(3), steps=5, parameters=SMALL)
    assert trip.verdicts == {"logistic": "reproduces"}


def test_a_scorer_left_at_temperature_0_warns_once_in_its_round_trip_and_not_in_its_probe():
    """The runs share one chat model: one notice for all of them; the probe reads probabilities."""
    scorer = ScoringChatModel.model_validate({"scores": NoisyLogistic(-1.4, 0.0), "model_name": "cold"})
    object.__setattr__(scorer, "temperature", 0.0)  # 0 as a backend's default, not set by the user
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = probe_scenario("schelling", backend=scorer, parameters=SMALL)
        probed = len(caught)
        round_trip(result, seeds=range(3), steps=2)
    notices = [w for w in caught if issubclass(w.category, ArgmaxWarning)]
    assert probed == 0
    assert len(notices) == 1
    assert "P(stay)=0.80, P(move)=0.20" in str(notices[0].message)
