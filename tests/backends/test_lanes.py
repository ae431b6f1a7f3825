"""Scoring on lanes, for real (SmolLM2, and Gemma 3 whose repacked weights are batch-sensitive).

Every prompt must get the same bits whichever lane scores it, whatever the lane scored
before, alone or beside other prompts, and as llama-cpp-python's own evaluation gives
them from an empty cache.
"""

import random
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from llama_cpp import llama_cpp

from mesa_llm import LLMRuntime
from mesa_llm.backends.lanes import _PATIENCE, CHUNK, Lane, Lanes, _Job
from mesa_llm.backends.llama import default_lanes
from mesa_llm.backends.local import LocalChatModel, _chat
from mesa_llm.backends.scoring import path_probabilities
from tests.world import LLM, World

STAY_MOVE = ["stay", "move"]
THREE = ["cooperate", "defect", "cooperate fully"]
SYSTEM = "You are a resident of a town, deciding whether to keep living in your home."


def prompts():
    """Prompts of many lengths (one over 256 tokens) sharing prefixes of many lengths."""
    found = [
        [SystemMessage(SYSTEM), HumanMessage(f"Around you {n} people live. Do you stay or move?")]
        for n in (0, 3, 12, 250)
    ]
    found += [
        [SystemMessage(SYSTEM), HumanMessage("Do you stay or move?" + " Think of your street." * k)]
        for k in (0, 1, 5, 60)
    ]
    found.append([HumanMessage("Stay or move?")])
    found.append(
        [SystemMessage(SYSTEM), HumanMessage("Do you stay?"), AIMessage("stay"), HumanMessage("Now?")]
    )
    return found


@pytest.fixture(scope="module", params=["smollm2", "gemma3"])
def model(request):
    return LocalChatModel(model=request.param, n_parallel=3, max_tokens=12)


def from_scratch(model, tokens):
    """The logits after ``tokens`` by llama-cpp-python's own ``eval`` from an empty cache.

    On the generation context, in chunks of its ``n_batch`` (16) from position 0: the
    evaluation the engine did before it had lanes, by other code than the lanes'.
    """
    engine = model.engine
    with engine.lock:
        engine.llama.n_tokens = 0
        engine.llama.eval(tokens)
        engine.main.keep(0)
        pointer = llama_cpp.llama_get_logits_ith(engine.llama.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(engine.llama.n_vocab(),)).copy()


def evaluated(lane):
    """The tokens llama.cpp has evaluated on ``lane``'s context."""
    perf = llama_cpp.llama_perf_context(lane.ctx)
    return perf.n_p_eval + perf.n_eval


def alone(model, messages, options):
    """The probabilities of ``options`` from logits evaluated :func:`from_scratch`."""
    _, found = model.engine._branchings(_chat(messages), options)
    return path_probabilities(found, [from_scratch(model, b.prefix) for b in found], options)


@pytest.fixture(scope="module")
def expected(model):
    """The probabilities of each of :func:`prompts` :func:`alone`, by the options' first label."""
    return {options[0]: [alone(model, m, options) for m in prompts()] for options in (STAY_MOVE, THREE)}


@pytest.mark.parametrize("options", [STAY_MOVE, THREE])
def test_each_prompt_scores_the_same_bits_in_any_batch_in_any_order(model, expected, options):
    every, expected = prompts(), expected[options[0]]
    assert len(model.engine._branchings(_chat(every[7]), options)[1][0].prefix) > 256  # a longer cache
    rng = random.Random(0)
    for _ in range(2):
        order = rng.sample(range(len(every)), len(every))
        while order:
            size = rng.randint(1, 6)
            batch, order = order[:size], order[size:]
            if len(batch) == 1:
                got = [model.score_options(every[batch[0]], options)]
            else:
                got = model.score_options_many([every[i] for i in batch], options)
            assert [g.probabilities for g in got] == [expected[i] for i in batch]
            assert all(0 < g.seconds < 30 for g in got)  # each prompt's own evaluation on its lane


def test_concurrent_calls_score_the_same_bits_as_alone_and_use_every_lane(model, expected):
    every, expected = prompts() * 3, expected["stay"] * 3
    results = [None] * len(every)
    lanes = model.engine.lanes.lanes
    before = [evaluated(lane) for lane in lanes]

    def score(i):
        results[i] = model.score_options(every[i], STAY_MOVE).probabilities

    threads = [threading.Thread(target=score, args=(i,)) for i in range(len(every))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected
    assert all(evaluated(lane) > n for lane, n in zip(lanes, before, strict=True))  # all three served


def test_scores_hold_after_generation_on_the_same_weights(model, expected):
    messages = prompts()[1]
    model.score_options(messages, STAY_MOVE)
    model.invoke([SystemMessage(SYSTEM), HumanMessage("Describe your street in one sentence.")])
    model.score_options_many(prompts()[4:], THREE)
    assert model.score_options(messages, STAY_MOVE).probabilities == expected["stay"][1]


def test_generation_rewrites_the_prompts_last_token_so_that_cell_is_not_reused(model):
    # a prompt of whole chunks: llama-cpp-python evaluates its last token again, alone,
    # before generating, which changes that cell's bits for Gemma's repacked weights
    engine, words = model.engine, "Describe your street."
    while len(engine._prompt(_chat([HumanMessage(words)]))[1]) % CHUNK:
        words += " Now."
    first = [HumanMessage(words)]
    tokens = engine._prompt(_chat(first))[1]
    longer = engine._prompt(_chat([*first, AIMessage("It is quiet."), HumanMessage("Why?")]))[1]
    assert longer[: len(tokens)] == tokens
    model.invoke(first)
    with engine.lock:
        after_generation = engine.main.logits(longer)
    assert np.array_equal(after_generation, from_scratch(model, longer))


def test_the_thread_count_and_the_lanes_change_no_bits():
    every = prompts()[:6]
    reference = LocalChatModel(n_threads=1, n_parallel=1)
    other = LocalChatModel(n_threads=2, n_parallel=2)
    assert other.engine is not reference.engine
    assert other.score_options_many(every, STAY_MOVE) == reference.score_options_many(every, STAY_MOVE)


def test_the_runtime_sends_several_calls_and_records_the_scores_of_one_at_a_time():
    def records(backend):
        runtime = LLMRuntime(backend, dedup=False)
        world = World(runtime)
        agents = [LLM(world, crowd=n, runtime=runtime) for n in range(8)]
        world.step()
        return [agent.last_record.probabilities for agent in agents]

    parallel = LocalChatModel(n_parallel=3)
    assert parallel.max_parallel_calls == 3
    assert LocalChatModel().max_parallel_calls == default_lanes(None)
    assert records(parallel) == records(LocalChatModel(n_parallel=1))


def test_a_free_lane_takes_the_waiting_prompt_sharing_most_chunks_with_its_cache_and_the_oldest_in_time():
    lanes = Lanes([])  # no lanes: nothing serves, the choice is made by hand
    cached = list(range(40))
    lane = SimpleNamespace(cached=cached)
    other, sharing, partly = _Job([[99] * 40]), _Job([[*cached[:34], 7]]), _Job([[*cached[:20], 7]])
    lanes._waiting = [other, partly, sharing]
    assert lanes._take(lane) is sharing  # two whole chunks shared
    assert lanes._take(lane) is partly  # one
    assert other.passed == 2
    other.passed = 0
    lanes._waiting = [other, *(_Job([[*cached, n]]) for n in range(_PATIENCE + 5))]
    taken = [lanes._take(lane) for _ in range(_PATIENCE + 1)]
    assert taken.index(other) == _PATIENCE  # passed over _PATIENCE times, then served first


def test_closed_lanes_finish_and_refuse_new_prompts():
    model = LocalChatModel()
    engine = model.engine
    settings = engine.llama.context_params
    ctx = llama_cpp.llama_init_from_model(engine.llama.model, type(settings).from_buffer_copy(settings))
    lanes = Lanes([Lane(ctx, engine.llama.n_vocab(), engine.n_ctx, owned=True)])
    tokens = engine._prompt(_chat(prompts()[0]))[1]
    [([logits], seconds)] = lanes.evaluate([[tokens]])
    assert 0 < seconds < 10
    assert np.array_equal(logits, from_scratch(model, tokens))
    lanes.close()
    with pytest.raises(RuntimeError, match="closed"):
        lanes.evaluate([[tokens]])
