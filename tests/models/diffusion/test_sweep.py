"""Diffusion in a sweep: its parameters (p, q, the graph family) are axes, and a verdict comes out."""

import pytest

from mesa_llm.experiments import Sweep


def test_p_q_and_the_graph_family_are_sweep_axes_with_a_verdict():
    """LLM residents asking the cascade's chat model: the telling rate decides how far the news goes."""
    sweep = Sweep(
        scenario="diffusion",
        fixed={"embeddings": "hashing", "days": 1, "meet_acquaintance": 0.8, "llm_share": 1.0},
        axes={"backend": ["rule"], "p": [0.0, 1.0], "graph_family": ["small-world", "personas"]},
        seeds=range(8),
        steps=24,
    )
    result = sweep.run()
    summary = result.summary
    assert len(summary) == 32
    assert set(summary["graph_family"]) == {"small-world", "personas"}
    by_p = summary.groupby("p")["informed"].mean()
    assert by_p[0.0] == pytest.approx(1 / 25)  # nobody tells: the host alone knows
    assert by_p[1.0] > by_p[0.0]
    report = result.robustness()
    factors = report.factors[report.factors["metric"] == "informed"]
    assert {"p", "graph_family"} <= set(factors["factor"])
    assert factors.set_index("factor").loc["p", "verdict"] == "depends"  # nobody told against everybody


def test_a_bad_axis_value_is_refused_before_any_run():
    with pytest.raises(ValueError, match="graph_family"):
        Sweep(
            scenario="diffusion", axes={"graph_family": ["small-world", "lattice"]}, seeds=range(1), steps=24
        )
    with pytest.raises(ValueError, match="p must be a probability"):
        Sweep(scenario="diffusion", axes={"p": [0.5, 2.0]}, seeds=range(1), steps=24)
