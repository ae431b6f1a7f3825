from mesa_llm.populations import population
from mesa_llm.viz.portrayal import MARKERS, population_portrayal
from mesa_llm_models.schelling import SchellingModel, rule_following_backend


def test_population_portrayal_marks_llm_agents_apart_and_names_them():
    model = SchellingModel(width=6, height=6, llm_share=0.5, backend=rule_following_backend(0.4), rng=2)
    portray = population_portrayal(lambda a: ["red", "blue"][a.group], tooltip=lambda a: {"group": a.group})
    styles = {agent: portray(agent) for agent in model.agents}
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
