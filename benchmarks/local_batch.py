"""The embedded models scoring many prompts: one at a time against lanes, idle and under load.

For both embedded models (``local`` = SmolLM2-135M, ``local:gemma3``), each part in a
fresh ``spawn`` process:

1. throughput: the distinct prompts of each of ``STEPS`` steps of a 20x20 Schelling model
   (every resident an ``LLMResident``, answering with the rule backend so the world
   moves), scored (a) one at a time with the former settings (one llama.cpp context, two
   threads, prompts in the runtime's order), (b) by ``score_options_many`` with the
   defaults (a lane per core, one thread each) and (c) by as many concurrent
   ``score_options`` calls as ``max_parallel_calls`` (what the runtime sends), the three
   interleaved, every context's cache set beforehand to the prefix all prompts share.
   The scores of (b) and (c) are checked to be the bits of (a);
2. under load: the latency of single scorings with each setting, idle and with one
   busy-looping Python process per core, alternating call by call (the busy processes
   are paused and resumed, so both states share the machine's other load), then the
   throughput of (a) and (b), idle and loaded, alternating;
3. sequences per llama.cpp batch (the design the lanes replace): tokens per second when
   ``k`` prompts are evaluated together in one ``llama_decode`` (one sequence each, on a
   context with ``k`` sequences), and whether their logits keep the bits of each prompt
   evaluated alone.

    python benchmarks/local_batch.py
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from statistics import median

import numpy as np
from _common import print_table, write_results
from local_model import prime_caches

from mesa_llm.backends.lanes import CHUNK, common_prefix
from mesa_llm.backends.local import LocalChatModel, _chat
from mesa_llm.prompts import to_langchain
from mesa_llm_models.schelling import LLMResident, SchellingModel

MODELS = {"local": "smollm2", "local:gemma3": "gemma3"}
OPTIONS = ["stay", "move"]
STEPS = 3
ROUNDS = 2
LATENCY_CALLS = 16
BATCH_SEQUENCES = (1, 4, 16)
FORMER = {"n_threads": 2, "n_parallel": 1}  # the settings before lanes: one context, two threads


def step_prompts() -> list[list]:
    """The distinct prompts of each of ``STEPS`` steps of an all-LLM 20x20 Schelling model, in agent order."""
    model = SchellingModel(width=20, height=20, llm_share=1.0, backend="rule", rng=1)
    residents = [agent for agent in model.agents if isinstance(agent, LLMResident)]
    steps = []
    for _ in range(STEPS):
        seen = dict.fromkeys(agent.observe() for agent in residents)
        steps.append([to_langchain(residents[0].messages(n)) for n in seen])
        model.step()
    return steps


def shared_prefix(model: LocalChatModel, prompts: list[list]) -> list[int]:
    tokens = [model.engine._prompt(_chat(p))[1] for p in prompts]
    return tokens[0][: min(common_prefix(tokens[0], t) for t in tokens)]


def one_at_a_time(model: LocalChatModel, prompts: list[list]) -> list:
    return [model.score_options(p, OPTIONS) for p in prompts]


def batched(model: LocalChatModel, prompts: list[list]) -> list:
    return model.score_options_many(prompts, OPTIONS)


def concurrent(model: LocalChatModel, prompts: list[list]) -> list:
    with ThreadPoolExecutor(model.max_parallel_calls) as pool:
        return list(pool.map(lambda p: model.score_options(p, OPTIONS), prompts))


def throughput(name: str) -> dict:
    """Part 1 in this process: the three ways, interleaved, on every step's prompts."""
    former, lanes = LocalChatModel(model=name, **FORMER), LocalChatModel(model=name)
    steps = step_prompts()
    ways = {
        "one_at_a_time": (former, one_at_a_time),
        "batched": (lanes, batched),
        "concurrent": (lanes, concurrent),
    }
    rows, identical = [], True
    for round_ in range(ROUNDS):
        for step, prompts in enumerate(steps):
            prefix = shared_prefix(former, prompts)
            order = list(ways)[round_ % 3 :] + list(ways)[: round_ % 3]
            results = {}
            for way in order:
                model, fn = ways[way]
                prime_caches(model.engine, prefix)
                start = time.perf_counter()
                results[way] = fn(model, prompts)
                wall = time.perf_counter() - start
                rows.append(
                    {"round": round_, "step": step, "way": way, "prompts": len(prompts), "wall_s": wall}
                )
            identical &= results["batched"] == results["concurrent"] == results["one_at_a_time"]
    return {"rows": rows, "identical": identical, "load": os.getloadavg()}


class Load:
    """One busy-looping Python process per core, paused (SIGSTOP) or running (SIGCONT) at will.

    Switching costs no process start, so idle and loaded calls alternate call by call and
    see the same background (other processes of the machine) on average.
    """

    def __init__(self) -> None:
        code = "while True: pass"
        self.processes = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(os.cpu_count() or 1)]
        self.set(False)

    def set(self, on: bool) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGCONT if on else signal.SIGSTOP)
        time.sleep(0.05)  # running (or stopped) before the call starts

    def close(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()


def under_load(name: str) -> dict:
    """Part 2 in this process: both settings idle and loaded, alternating call by call."""
    settings = {"former": LocalChatModel(model=name, **FORMER), "lanes": LocalChatModel(model=name)}
    prompts = step_prompts()[0]
    prefix = shared_prefix(settings["former"], prompts)
    load, calls, runs = Load(), [], []
    try:
        for i, p in enumerate(prompts[:LATENCY_CALLS]):
            for setting, model in settings.items():
                for loaded in (i % 2 == 0, i % 2 == 1):
                    prime_caches(model.engine, prefix)
                    load.set(loaded)
                    start = time.perf_counter()
                    model.score_options(p, OPTIONS)
                    calls.append(
                        {"setting": setting, "loaded": loaded, "latency_s": time.perf_counter() - start}
                    )
                    load.set(False)
        for round_ in range(ROUNDS):
            for setting, model in settings.items():
                for loaded in (round_ % 2 == 0, round_ % 2 == 1):
                    prime_caches(model.engine, prefix)
                    load.set(loaded)
                    start = time.perf_counter()
                    (one_at_a_time if setting == "former" else batched)(model, prompts)
                    wall = time.perf_counter() - start
                    load.set(False)
                    runs.append(
                        {"setting": setting, "loaded": loaded, "decisions_per_s": len(prompts) / wall}
                    )
    finally:
        load.close()
    return {"calls": calls, "runs": runs, "prompts": len(prompts), "load": os.getloadavg()}


def sequences_per_batch(name: str) -> dict:
    """Part 3 in this process: ``k`` prompts per ``llama_decode`` on a context of ``k`` sequences."""
    from llama_cpp import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    model = LocalChatModel(model=name, n_threads=1, n_parallel=1)
    engine, lane = model.engine, model.engine.lanes.lanes[0]
    prompts = [engine._prompt(_chat(p))[1] for p in step_prompts()[0]]
    prompts = [p for p in prompts if len(p) == len(prompts[0])][: max(BATCH_SEQUENCES)]  # equal chunk layouts
    alone = [lane.logits(p) for p in prompts]
    last = len(prompts[0]) - (len(prompts[0]) - 1) // CHUNK * CHUNK  # tokens in the final chunk
    rows = []
    for k in (k for k in BATCH_SEQUENCES if k <= len(prompts)):
        settings = engine.llama.context_params
        params = type(settings).from_buffer_copy(settings)
        # 256 cells a sequence: as many as the lane's cache shows these prompts (it pads to 256)
        params.n_ctx, params.n_batch, params.n_ubatch = 256 * k, CHUNK * k, CHUNK * k
        params.n_seq_max, params.kv_unified = k, False  # a cache of its own per sequence
        with suppress_stdout_stderr(disable=False):  # Gemma's notice of its sliding-window cache
            ctx = llama_cpp.llama_init_from_model(engine.llama.model, params)
        batch = llama_cpp.llama_batch_init(CHUNK * k, 0, 1)
        start, same = time.perf_counter(), 0
        for group in range(0, len(prompts) - k + 1, k):
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
            chosen = prompts[group : group + k]
            for first in range(0, len(chosen[0]), CHUNK):
                n = 0
                for seq, tokens in enumerate(chosen):
                    for i, token in enumerate(tokens[first : first + CHUNK]):
                        batch.token[n], batch.pos[n], batch.n_seq_id[n] = token, first + i, 1
                        batch.seq_id[n][0], batch.logits[n] = seq, first + i == len(tokens) - 1
                        n += 1
                batch.n_tokens = n
                assert llama_cpp.llama_decode(ctx, batch) == 0
            for seq in range(k):
                pointer = llama_cpp.llama_get_logits_ith(ctx, (seq + 1) * last - 1)
                row = np.ctypeslib.as_array(pointer, shape=(engine.llama.n_vocab(),))
                same += bool(np.array_equal(row, alone[group + seq]))
        wall = time.perf_counter() - start
        evaluated = (len(prompts) // k) * k
        rows.append(
            {
                "sequences": k,
                "tokens_per_s": evaluated * len(prompts[0]) / wall,
                "same_bits": same,
                "prompts": evaluated,
            }
        )
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)
    return {"rows": rows, "prompt_tokens": len(prompts[0]), "load": os.getloadavg()}


def fresh(fn, *args):
    """``fn(*args)`` in a fresh ``spawn`` process."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def main() -> None:
    results: dict = {"load_before": os.getloadavg()}
    for backend, name in MODELS.items():
        for part in (throughput, under_load, sequences_per_batch):
            print(f"{backend}: {part.__name__} ...", flush=True)
            results.setdefault(backend, {})[part.__name__] = fresh(part, name)
    summary = []
    for backend in MODELS:
        rows = results[backend]["throughput"]["rows"]
        for way in ("one_at_a_time", "batched", "concurrent"):
            walls = [r for r in rows if r["way"] == way]
            rate = median(r["prompts"] / r["wall_s"] for r in walls)
            summary.append({"backend": backend, "measure": f"decisions/s {way}", "value": rate})
        for setting in ("former", "lanes"):
            part = results[backend]["under_load"]
            for loaded in (False, True):
                state = "loaded" if loaded else "idle"
                calls = [
                    c["latency_s"] for c in part["calls"] if c["setting"] == setting and c["loaded"] == loaded
                ]
                runs = [
                    r["decisions_per_s"]
                    for r in part["runs"]
                    if r["setting"] == setting and r["loaded"] == loaded
                ]
                summary += [
                    {"backend": backend, "measure": f"latency s {state} ({setting})", "value": median(calls)},
                    {
                        "backend": backend,
                        "measure": f"decisions/s {state} ({setting})",
                        "value": median(runs),
                    },
                ]
    print_table(summary, ["backend", "measure", "value"])
    results["load_after"] = os.getloadavg()
    parameters = {"steps": STEPS, "rounds": ROUNDS, "latency_calls": LATENCY_CALLS, "former": FORMER}
    write_results("local_batch", parameters, summary, parts=results)


if __name__ == "__main__":
    main()
