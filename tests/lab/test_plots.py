"""The metrics figure: lines of all agents and of the populations the model has."""

from mesa_llm.lab import plots
from mesa_llm_models.schelling import SCENARIO
from tests.lab.small import config, execute


def labels(figure):
    return [[line.get_label() for line in ax.lines] for ax in figure.axes]


def test_a_run_without_llm_agents_draws_no_llm_line():
    result = execute(config(steps=3, llm_share=0))
    assert plots.populations_of(result.model) == ("rule",)
    assert (result.model_frame["moves_llm"] == 0).all()  # a value, which describes nobody
    figure = plots.metrics_figure(
        result.model_frame, SCENARIO.metrics, "", plots.populations_of(result.model)
    )
    assert labels(figure) == [["all", "rule"]] * 3
    assert labels(plots.metrics_figure(result.model_frame, ("moves",), ""))[0] == ["all", "rule", "LLM"]


def test_all_llm_and_mixed_runs_draw_the_lines_of_their_populations():
    every = execute(config(steps=2, llm_share=1))
    assert plots.populations_of(every.model) == ("llm",)
    figure = plots.metrics_figure(every.model_frame, ("moves",), "", plots.populations_of(every.model))
    assert labels(figure) == [["all", "LLM"]]
    mixed = execute(config(steps=2, llm_share=0.5))
    assert plots.populations_of(mixed.model) == ("rule", "llm")
    figure = plots.metrics_figure(mixed.model_frame, ("moves",), "", plots.populations_of(mixed.model))
    assert labels(figure) == [["all", "rule", "LLM"]]


def test_the_agreement_figure_draws_each_observation_with_its_interval():
    result = execute(config(steps=3, llm_share=0.5))
    frame = result.model.llm.agreement.frame()
    figure = plots.agreement_figure(frame, "agreement")
    (ax,) = figure.axes
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert len(labels) == len(frame)
    assert all(label.startswith("same=") and " other=" in label and " empty=" in label for label in labels)
    assert labels == sorted(labels, key=lambda t: [int(part.split("=")[1]) for part in t.split()])
    few = plots.agreement_figure(frame, "agreement", most=3)
    assert len(few.axes[0].get_yticklabels()) == 3
