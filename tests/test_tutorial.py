"""docs/your-own-model.md runs as written, and shows what its code prints.

The tutorial's ``python`` blocks run in order in one namespace (tests/tutorial.py); the
``text`` block after a block is the output it must print (whitespace aside), warnings as
``Category: message``. Blocks marked ``python no-test`` are counted, not run.
"""

import contextlib
import io
import math
import multiprocessing
import warnings
from dataclasses import dataclass

import pytest

from tests import tutorial

# The blocks that do not run, by a line of each: Mesa's code quoted, and the embedded local model.
NOT_RUN = ("self.check_situation()", "from mesa_llm.backends import LocalChatModel")


@dataclass
class Ran:
    """A block that ran: what it printed, with the warnings it raised."""

    block: tutorial.Block
    printed: str
    warned: list[warnings.WarningMessage]


def _normalised(text: str) -> str:
    return " ".join(text.split())


def _run(block: tutorial.Block, namespace: dict) -> Ran:
    shows_warning = block.output is not None and "Warning: " in block.output
    with contextlib.redirect_stdout(io.StringIO()) as out:
        if shows_warning:
            with pytest.warns(RuntimeWarning) as warned:
                exec(block.code(), namespace)
            record = list(warned)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                exec(block.code(), namespace)
            record = []
    printed = out.getvalue() + "".join(f"{w.category.__name__}: {w.message}\n" for w in record)
    return Ran(block, printed, record)


def _check_a_worker_can_unpickle(*objects: object) -> None:
    """Fail, rather than hang: mesa.batch_run waits forever for a task its worker could not unpickle."""
    worker = multiprocessing.get_context("spawn").Process(target=bool, args=(objects,))
    worker.start()
    worker.join(timeout=120)
    assert worker.exitcode == 0, "a spawned process cannot unpickle the tutorial's model class and backend"


@pytest.fixture(scope="module")
def ran() -> list[Ran]:
    """Every block that runs, run in order (mesa.batch_run's switch to spawn undone afterwards)."""
    start_method = multiprocessing.get_start_method(allow_none=True)
    namespace = vars(tutorial)
    results = []
    try:
        for block in tutorial.tutorial_blocks():
            if block.info == tutorial.RUN:
                if "mesa.batch_run(" in block.text:
                    _check_a_worker_can_unpickle(namespace["MixedVirusOnNetwork"], namespace["follows_rule"])
                results.append(_run(block, namespace))
    finally:
        multiprocessing.set_start_method(start_method, force=True)
    return results


@pytest.fixture(scope="module")
def ns(ran: list[Ran]) -> dict:
    return vars(tutorial)


def test_every_block_prints_exactly_the_output_the_tutorial_shows(ran):
    assert len(ran) == tutorial.DOC.read_text(encoding="utf-8").count("```python\n") > 15
    for result in ran:
        expected = result.block.output or ""
        assert _normalised(result.printed) == _normalised(expected), f"block at line {result.block.line}"


def test_only_the_marked_blocks_are_skipped_and_each_is_counted():
    blocks = tutorial.tutorial_blocks()
    assert {block.info for block in blocks} == {tutorial.RUN, tutorial.NO_TEST, tutorial.OUTPUT}
    skipped = [block for block in blocks if block.info == tutorial.NO_TEST]
    assert len(skipped) == len(NOT_RUN) == 2
    for block, line in zip(skipped, NOT_RUN, strict=True):
        assert line in block.text
    shown = sum(block.output is not None for block in blocks)
    assert shown == sum(block.info == tutorial.OUTPUT for block in blocks)  # no output block stands alone


def test_mesa_s_shuffle_do_bypasses_the_model_and_warns_once_naming_the_fix(ran, ns):
    (warned,) = [result for result in ran if result.warned]
    assert "shuffle_do" in warned.block.text
    assert len(warned.warned) == 1  # once for the class, though 20 LLM agents stepped 3 times
    assert "model.llm.step(agents, rng=model.random)" in str(warned.warned[0].message)
    bypassed = ns["bypassed"]
    assert sum(isinstance(agent, ns["LLMVirusAgent"]) for agent in bypassed.agents) == 20
    assert set(bypassed.datacollector.get_model_vars_dataframe()["llm_decisions"]) == {0}


def test_either_base_order_gives_the_same_run(ns):
    second, mixed = ns["second"].datacollector.get_model_vars_dataframe(), ns["mixed_frame"]
    assert second["llm_decisions"].iloc[-1] > 0
    for columns in (ns["SCENARIO"], ["llm_decisions", "llm_calls", "llm_rule_agreement"]):
        assert second[columns].equals(mixed[columns])
    assert "OwnInit" not in ns  # refused when the class was created


def test_choose_llm_draws_half_the_agents_and_reporters_split_by_population(ns):
    mixed, by_group = ns["mixed"], ns["by_group"]
    assert sum(isinstance(agent, ns["LLMVirusAgent"]) for agent in mixed.agents) == 20
    halves = (by_group["infected_rule"] + by_group["infected_llm"]) / 2  # 20 agents in each population
    assert (halves - by_group["infected"]).abs().max() < 1e-12
    assert by_group["Infected"].equals((by_group["infected"] * 40).round().astype(int))
    records = mixed.llm.log.to_dataframe()
    assert by_group["doctor_visits_llm"].sum() == (records["action"] == "see_doctor").sum() > 0
    assert by_group["doctor_visits_rule"].sum() > 0
    all_rule = ns["all_rule_frame"]
    assert all_rule["infected_llm"].isna().all()
    assert (all_rule["doctor_visits_llm"] == 0).all()


def test_the_rule_following_mixed_run_equals_the_all_rule_run(ns):
    mixed, all_rule, scenario = ns["mixed_frame"], ns["all_rule_frame"], ns["SCENARIO"]
    assert mixed["llm_decisions"].iloc[-1] > 20  # the LLM agents did decide, many times
    assert mixed["Infected"].nunique() > 3  # an epidemic, not a standstill
    assert mixed[scenario].equals(all_rule[scenario])
    eager = ns["eager"].datacollector.get_model_vars_dataframe()
    assert not eager[scenario].equals(all_rule[scenario])  # a model that does not follow the rule differs


def test_rule_shadow_agreement_is_1_for_the_rule_and_below_1_otherwise(ns):
    followed = ns["mixed_frame"]["llm_rule_agreement"]
    assert math.isnan(followed.iloc[0])  # no LLM decision before the first step
    assert set(followed.dropna()) == {1.0}
    agreement = ns["agreement"].dropna()
    assert 0 < agreement.mean() < 1
    eager = ns["eager"]
    frame = eager.llm.agreement.frame()
    assert frame["decisions"].sum() == len(eager.llm.log.to_dataframe())
    assert set(eager.llm.log.to_dataframe()["rule_action"]) == {"see_doctor", "wait"}


def test_the_scoring_model_draws_at_temperature_1_and_argmaxes_at_0(ns):
    frame = ns["noisy"].llm.agreement.frame()
    assert len(frame) == 2
    assert ((frame["agreed"] > 0) & (frame["agreed"] < frame["decisions"])).all()  # both actions drawn
    argmax = ns["argmax_frame"]
    assert argmax["llm_decisions"].iloc[-1] > 0
    assert set(argmax["llm_rule_agreement"].dropna()) == {1.0}


def test_run_for_steps_the_model_as_mesa_does(ns):
    model = ns["model"]
    assert model.steps == 15
    frame, mixed = model.datacollector.get_model_vars_dataframe(), ns["mixed_frame"]
    untimed = [column for column in mixed if "latency" not in column]
    assert frame[untimed].equals(mixed[untimed])


def test_batch_run_in_two_processes_gives_each_seed_s_mixed_run_its_all_rule_end(ns):
    batch = ns["batch"]
    assert len(batch) == 4
    for _, runs in batch.groupby("iteration"):
        all_rule, mixed = runs.to_dict("records")
        assert (all_rule["llm_share"], mixed["llm_share"]) == (0.0, 0.5)
        assert mixed["llm_decisions"] > 0 == all_rule["llm_decisions"]
        for column in ("Infected", "Susceptible", "Resistant"):
            assert mixed[column] == all_rule[column]
    assert batch.groupby("iteration")["Step"].max().eq(10).all()
