"""The README's code that needs no network runs as written."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_your_own_agents_example_runs_and_mixes_rule_and_llm_walkers():
    (block,) = [b for b in python_blocks() if "class Walk(mesa.Model)" in b]
    namespace = {"__name__": "readme"}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(block, str(README), "exec"), namespace)
    model = namespace["model"]
    frame = model.datacollector.get_model_vars_dataframe()
    assert frame["llm_decisions"].iloc[-1] == 15  # 5 LLM walkers x 3 steps
    assert frame["llm_calls"].iloc[-1] == 3  # identical prompts of a step are sent once
    walkers = model.agents
    assert len({w.umbrella for w in walkers}) == 1  # rule and LLM walkers agree every step
    assert walkers[0].umbrella == model.raining
    assert "llm_calls" in out.getvalue()
