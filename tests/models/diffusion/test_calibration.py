"""The cascade probe: the p and q a resident implies, recovered where they are known, and their round trip."""

import json

import pytest

from mesa_llm.calibration import probe_scenario, round_trip
from mesa_llm_models.diffusion import CASCADE_PROBE, SCENARIO, fit_cascade
from mesa_llm_models.diffusion.calibration import implied_rules
from tests.models.diffusion.chatty import chatty


@pytest.mark.parametrize(("p", "q"), [(0.3, 0.5), (0.8, 0.1), (0.0, 1.0)])
def test_the_probe_recovers_the_rates_of_the_cascade_chat_model(p, q):
    result = probe_scenario(SCENARIO, "cascade", backend="rule", parameters={"p": p, "q": q})
    fit = result.fit
    assert fit.p == pytest.approx(p)
    assert fit.q == pytest.approx(q)
    assert fit.chatter == 0.0
    assert fit.stranger == 0.0
    assert fit.uninvited == 0.0
    assert fit.source == "scored"
    assert result.run.fallbacks == 0
    assert implied_rules(fit) == {"cascade": {"baseline": "cascade", "p": p, "q": q}}


def test_the_probe_asks_twelve_points_of_a_resident_as_the_model_builds_it():
    result = probe_scenario(SCENARIO, "cascade", backend="rule", parameters={"framing": "diary"})
    points = result.table.drop_duplicates("point")
    assert len(points) == 12
    assert set(zip(points["informed"], points["partner"], points["invite"], strict=True)) == {
        (i, partner, invite)
        for i in (0, 1)
        for partner in ("acquaintance", "stranger", "nobody")
        for invite in (0, 1)
    }
    prompts = {str(record.messages[-1][1]) for record in result.run.records}
    assert all(text.startswith("Dear diary") for text in prompts)  # the framing's words


def test_a_resident_that_always_talks_is_chatter_not_a_cascade():
    fit = probe_scenario(SCENARIO, "cascade", backend=chatty()).fit
    assert fit.p == 1.0
    assert fit.chatter == 1.0
    assert fit.informed_talk_gap == 0.0
    assert fit.q == 0.0  # it never goes anywhere
    assert "knowing adds +0.00" in fit.describe()


@pytest.mark.parametrize("coordinate", ["partner", "event_place"])
def test_the_fit_refuses_a_table_without_its_coordinates(coordinate):
    table = probe_scenario(SCENARIO, "cascade", backend="rule").table.drop(columns=[coordinate])
    with pytest.raises(ValueError, match=f"the probe table has no {coordinate}"):
        fit_cascade(table)


def test_the_fit_writes_json_ready_values(tmp_path):
    result = probe_scenario(SCENARIO, "cascade", backend="rule", parameters={"p": 0.4})
    result.write(tmp_path)
    written = json.loads((tmp_path / "fit.json").read_text())
    assert written["fit"]["p"] == pytest.approx(0.4)
    assert written["fit"]["chatter"] == 0.0


def test_the_round_trip_of_the_cascade_chat_model_reproduces(tmp_path):
    """All-LLM residents asking the cascade's chat model against rule residents of the fitted p and q.

    Every run of a seed is the same run in both populations (the model's exact equivalence),
    so every difference is 0 and each outcome is equivalent within its margin.
    """
    result = probe_scenario(SCENARIO, "cascade", backend="rule", parameters={"p": 0.6, "retrieved": 1000})
    trip = round_trip(result, seeds=range(4), steps=48, out=tmp_path, parameters={"embeddings": "hashing"})
    assert list(trip.populations) == ["llm", "cascade"]
    assert trip.populations["cascade"]["p"] == pytest.approx(0.6)
    rows = trip.comparisons[trip.comparisons["population"] == "cascade"]
    assert set(rows["outcome"]) == {"informed", "attended", "density"}
    assert (rows["diff"] == 0.0).all()
    assert trip.verdicts["cascade"] == "reproduces"


def test_the_probe_draws_its_rates_and_writes_the_figure(tmp_path):
    result = probe_scenario(SCENARIO, "cascade", backend="rule", parameters={"p": 0.4, "q": 0.7})
    figure = CASCADE_PROBE.figure(result)
    heights = sorted(round(patch.get_height(), 6) for patch in figure.axes[0].patches)
    assert heights == [0.0, 0.0, 0.0, 0.0, 0.4, 0.7]  # talk: acquaintance, stranger; go: at its start
    written = result.write(tmp_path)
    assert (tmp_path / "probe.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert written
