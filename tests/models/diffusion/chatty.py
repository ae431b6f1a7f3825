"""A deterministic chat model for the diffusion tests: residents who always talk, plan and reflect.

It answers every prompt of an LLM resident by its kind (read with the prompts' own
templates): the hourly choice talks whenever someone came up, else carries on; a line is
a fixed greeting (or, from the host, ``HOST_LINE``); importance is 9, so reflections come
early; a reflection asks one question and draws one insight that cites memory 0 and an id
no stream has; a plan spends noon at the park and names an hour asleep and an unknown
place (both dropped); an interview answer names a party at the pub at 9 pm. Every prompt
is kept in ``PROMPTS`` for inspection.
"""

from __future__ import annotations

import json

from langchain_core.messages import BaseMessage

from mesa_llm import PromptTemplate, ScoringChatModel
from mesa_llm.memory.asking import IMPORTANCE_LABELS, INSIGHTS_PROMPT, QUESTIONS_PROMPT
from mesa_llm_models.diffusion.framings import INTERVIEW, PLAN, SPEECH

GREETING = "Hello there, lovely weather today."
INTERVIEW_ANSWER = "There is a party at the Crooked Heron pub at 9 pm."
HOST_LINE = "Come to my party at the Linden Café on day 2 at 5 pm!"


def _kind(messages: list[BaseMessage]) -> tuple[str, dict[str, str]]:
    for name, template in (
        ("speech", SPEECH),
        ("plan", PLAN),
        ("interview", INTERVIEW),
        ("questions", PromptTemplate("", QUESTIONS_PROMPT)),
        ("insights", PromptTemplate("", INSIGHTS_PROMPT)),
    ):
        try:
            return name, template.parse_first(messages)
        except ValueError:
            continue
    return "other", {}


def chatty(host_line: str = HOST_LINE, prompts: list | None = None) -> ScoringChatModel:
    """The chatty chat model; ``host_line`` is what the host (Marta Olsen) says."""
    seen = prompts if prompts is not None else []

    def scores(messages: list[BaseMessage], options) -> dict[str, float]:
        seen.append(messages)
        if tuple(options) == IMPORTANCE_LABELS:
            return {label: float(label == "9") for label in options}
        choice = "talk" if "talk" in options else "carry on"
        return {option: float(option == choice) for option in options}

    def answer(messages: list[BaseMessage]) -> str:
        seen.append(messages)
        kind, _facts = _kind(messages)
        if kind == "speech":
            host = "You are Marta Olsen," in str(messages[0].content)
            return json.dumps({"say": host_line if host else GREETING, "end": False})
        if kind == "plan":
            return json.dumps(
                {
                    "changes": [
                        {"hour": 12, "place": "park"},
                        {"hour": 3, "place": "park"},
                        {"hour": 13, "place": "moon"},
                    ]
                }
            )
        if kind == "interview":
            return json.dumps({"answer": INTERVIEW_ANSWER})
        if kind == "questions":
            return json.dumps({"questions": ["What is going on in town?"]})
        if kind == "insights":
            return json.dumps({"insights": [{"insight": "The town is friendly.", "cites": [0, 99999]}]})
        return "carry on"

    return ScoringChatModel(scores=scores, fn=answer, model_name="chatty", temperature=0.0)
