"""run_for with a progress bar: the same trajectory as Mesa's, a bar on terminals only."""

import io

import pandas as pd
import pytest
from rich.console import Console

from mesa_llm.lab.progress import llm_progress, run_for
from mesa_llm_models.schelling.model import SchellingModel


def model():
    return SchellingModel(width=8, height=8, llm_share=0.5, backend="rule", rng=11)


def test_run_for_steps_the_model_as_mesa_does_and_shows_the_llm_accounting():
    out = io.StringIO()
    shown = run_for(model(), 3, console=Console(file=out, force_terminal=True, width=200))
    plain = model()
    plain.run_for(3)
    frames = [
        m.datacollector.get_model_vars_dataframe().drop(columns="llm_mean_latency_s") for m in (shown, plain)
    ]
    pd.testing.assert_frame_equal(*frames)  # all but the wall-clock latency
    text = out.getvalue()
    assert "3/3" in text
    decisions = shown.llm.log.totals.decisions
    assert decisions > 0
    assert f"LLM decisions {decisions:,}" in text
    assert llm_progress(shown) in text


def test_no_bar_where_the_console_is_not_a_terminal():
    out = io.StringIO()
    stepped = run_for(model(), 2, console=Console(file=out, force_terminal=False))
    assert stepped.steps == 2
    assert out.getvalue() == ""


def test_the_bar_can_be_forced_on_and_off():
    out = io.StringIO()
    run_for(model(), 1, progress=True, console=Console(file=out, force_terminal=False, width=200))
    assert "1/1" in out.getvalue()
    out = io.StringIO()
    run_for(model(), 1, progress=False, console=Console(file=out, force_terminal=True))
    assert out.getvalue() == ""


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="progress must be True or False"):
        run_for(model(), 1, progress="yes")
    with pytest.raises(ValueError, match="steps"):
        run_for(model(), -1)


def test_a_model_without_a_runtime_has_no_llm_accounting():
    import mesa

    assert llm_progress(mesa.Model(rng=0)) == ""
