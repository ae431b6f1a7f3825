from mesa_llm.populations import population
from mesa_llm.viz.portrayal import (
    HOLLOW_FILL,
    MARKERS,
    POPULATION_LEGEND,
    LegendEntry,
    hollow_entry,
    legend_html,
    population_portrayal,
)
from mesa_llm_models.schelling import SchellingModel, rule_following_backend


def model() -> SchellingModel:
    return SchellingModel(width=6, height=6, llm_share=0.5, backend=rule_following_backend(0.4), rng=2)


def test_population_portrayal_marks_llm_agents_apart_and_names_them():
    portray = population_portrayal(lambda a: ["red", "blue"][a.group], tooltip=lambda a: {"group": a.group})
    styles = {agent: portray(agent) for agent in model().agents}
    kinds = {population(agent) for agent in styles}
    assert kinds == {"rule", "llm"}
    for agent, style in styles.items():
        kind = population(agent)
        assert style.marker == MARKERS[kind]
        assert (style.edgecolors is not None) == (kind == "llm")
        assert style.color == ["red", "blue"][agent.group]
        assert style.tooltip == {
            "id": agent.unique_id,
            "population": "LLM" if kind == "llm" else "rule",
            "group": agent.group,
        }


def test_hollow_agents_are_white_inside_and_outlined_in_their_colour():
    residents = model()
    portray = population_portrayal(lambda a: ["red", "blue"][a.group], hollow=lambda a: not a.happy)
    unhappy = [a for a in residents.agents if not a.happy]
    happy = [a for a in residents.agents if a.happy]
    assert unhappy
    assert happy
    for agent in unhappy:
        style = portray(agent)
        assert (style.color, style.edgecolors) == (HOLLOW_FILL, ["red", "blue"][agent.group])
        assert style.marker == MARKERS[population(agent)]  # the shape still tells the population
    for agent in happy:
        assert portray(agent).color == ["red", "blue"][agent.group]


def test_legend_html_draws_each_mark_with_its_label():
    entries = [LegendEntry("group <0>", "#1f77b4"), hollow_entry("unhappy", "#333333"), *POPULATION_LEGEND]
    text = legend_html(entries)
    assert text.count('class="mesa-llm-legend-item"') == 4
    assert "group &lt;0&gt;" in text  # labels are escaped
    assert '<circle cx="7" cy="7" r="5" fill="#1f77b4"/>' in text
    assert f'fill="{HOLLOW_FILL}" stroke="#333333"' in text
    assert "<rect" in text
    assert "LLM agent" in text
    assert "rule agent" in text
