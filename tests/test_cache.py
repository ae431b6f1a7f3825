"""Response caches: keys, in-memory and SQLite stores, warm reruns, and no secrets."""

import sqlite3
from contextlib import closing

import pytest
from langchain_openai import ChatOpenAI

from mesa_llm import (
    CallLog,
    FunctionChatModel,
    InMemoryCache,
    LLMRuntime,
    ScriptedChatModel,
    SQLiteCache,
)
from mesa_llm.backends import backend_identity, backend_name
from mesa_llm.cache import SCHEMA_VERSION, CachedAnswer, CacheError, cache_key
from tests.world import LLM, World, chat, crowd_rule

SECRET = "sk-test-SECRET123"
MESSAGES = (("system", "You are a resident."), ("human", "Stay or move?"))


def run_once(cache, crowds=(0, 3, 5, 1), temperature=0.0):
    backend, recorder = chat(name="counter", temperature=temperature)
    runtime = LLMRuntime(backend, cache=cache)
    model = World(runtime)
    agents = [LLM(model, crowd=c, runtime=runtime) for c in crowds]
    actions = runtime.step(agents)
    return [actions[a] for a in agents], recorder.calls, runtime.log


# --------------------------------------------------------------------------- keys


def test_cache_key_is_a_stable_sha256_digest():
    key = cache_key("identity", MESSAGES, "text")
    assert key == cache_key("identity", MESSAGES, "text")
    # Pinned: a release that changes it makes every user's persistent cache miss.
    assert key == "815436d90022353a6b690122d1f424c72b04922217670d1d05a3af4032c0f584"
    assert "Stay or move" not in key


@pytest.mark.parametrize(
    ("identity", "messages", "answer_format"),
    [
        ("other-identity", MESSAGES, "text"),
        ("identity", (("system", "You are a resident."), ("human", "Stay or move?!")), "text"),
        ("identity", (("human", "You are a resident."), ("human", "Stay or move?")), "text"),
        ("identity", MESSAGES[1:], "text"),
        ("identity", MESSAGES, '{"properties":{}}'),
    ],
    ids=["identity", "content", "role", "fewer-messages", "format"],
)
def test_cache_key_changes_with_identity_messages_and_format(identity, messages, answer_format):
    assert cache_key(identity, messages, answer_format) != cache_key("identity", MESSAGES, "text")


def test_backend_identity_depends_on_settings_that_change_answers():
    def fn(_messages):
        return "stay"

    cold = FunctionChatModel(fn=fn, model_name="m")
    assert backend_identity(cold) == backend_identity(FunctionChatModel(fn=fn, model_name="m"))
    assert backend_identity(cold) != backend_identity(
        FunctionChatModel(fn=fn, model_name="m", temperature=0.7)
    )
    assert backend_identity(cold) != backend_identity(FunctionChatModel(fn=fn, model_name="other"))
    assert backend_identity(ScriptedChatModel(responses=["a"])) != backend_identity(
        ScriptedChatModel(responses=["b"])
    )


# --------------------------------------------------------------------------- stores


def test_in_memory_cache_round_trip():
    cache = InMemoryCache()
    assert cache.get("k") is None
    cache.put("k", CachedAnswer("move", 12, 1))
    assert cache.get("k") == CachedAnswer("move", 12, 1)
    cache.put("k", CachedAnswer("stay"))
    assert cache.get("k") == CachedAnswer("stay", 0, 0)
    assert len(cache) == 1


def test_sqlite_cache_round_trip(tmp_path):
    cache = SQLiteCache(tmp_path / "nested" / "dir" / "cache.sqlite")
    try:
        assert cache.get("k") is None
        cache.put("k", CachedAnswer("I will MOVE.", 30, 3))
        cache.put("k2", CachedAnswer("ünïcödé ✓"))
        assert cache.get("k") == CachedAnswer("I will MOVE.", 30, 3)
        assert cache.get("k2") == CachedAnswer("ünïcödé ✓", 0, 0)
        cache.put("k", CachedAnswer("stay", 1, 1))
        assert cache.get("k") == CachedAnswer("stay", 1, 1)
        assert len(cache) == 2
    finally:
        cache.close()


def test_sqlite_cache_persists_across_instances(tmp_path):
    path = tmp_path / "cache.sqlite"
    first = SQLiteCache(path)
    first.put("key", CachedAnswer("move", 5, 1))
    first.close()
    second = SQLiteCache(path)
    try:
        assert second.get("key") == CachedAnswer("move", 5, 1)
        assert len(second) == 1
    finally:
        second.close()


def test_sqlite_cache_is_shared_by_two_open_instances(tmp_path):
    a, b = SQLiteCache(tmp_path / "c.sqlite"), SQLiteCache(tmp_path / "c.sqlite")
    try:
        a.put("x", CachedAnswer("stay"))
        assert b.get("x") == CachedAnswer("stay")
    finally:
        a.close()
        b.close()


# --------------------------------------------------------------------------- warm reruns


def test_warm_in_memory_cache_makes_zero_backend_calls():
    cache = InMemoryCache()
    cold_actions, cold_calls, cold_log = run_once(cache)
    assert cold_calls == 4
    assert cold_log.totals.cache_hits == 0
    warm_actions, warm_calls, warm_log = run_once(cache)
    assert warm_actions == cold_actions == ["stay", "move", "move", "stay"]
    assert warm_calls == 0
    assert all(r.cache_hit and r.backend_calls == 0 for r in warm_log.records)
    assert (warm_log.totals.cache_hits, warm_log.totals.calls) == (4, 0)
    assert [r.raw for r in warm_log.records] == [r.raw for r in cold_log.records]
    # tokens are what the backend was paid for: the cold run's, none in the warm run
    assert cold_log.totals.tokens_in > 0
    assert (warm_log.totals.tokens_in, warm_log.totals.tokens_out) == (0, 0)


def test_warm_sqlite_cache_across_instances_makes_zero_backend_calls(tmp_path):
    path = tmp_path / "answers.sqlite"
    cache = SQLiteCache(path)
    cold_actions, cold_calls, _ = run_once(cache)
    cache.close()
    cache = SQLiteCache(path)
    try:
        warm_actions, warm_calls, warm_log = run_once(cache)
    finally:
        cache.close()
    assert cold_calls == 4
    assert warm_actions == cold_actions
    assert warm_calls == 0
    assert warm_log.totals.cache_hits == 4


def test_cache_misses_when_the_prompt_changes():
    cache = InMemoryCache()
    run_once(cache, crowds=(0, 3))
    actions, calls, _ = run_once(cache, crowds=(0, 4))
    assert actions == ["stay", "move"]
    assert calls == 1


def test_cache_misses_when_the_backend_settings_change():
    cache = InMemoryCache()
    run_once(cache, crowds=(0,))
    _, calls, _ = run_once(cache, crowds=(0,), temperature=0.5)
    assert calls == 1


def test_only_used_answers_are_cached_and_a_replay_asks_the_first_question():
    cache = InMemoryCache()
    script = ["hmm", "move"]

    def run():
        backend = ScriptedChatModel(responses=script)
        runtime = LLMRuntime(backend, cache=cache)
        agent = LLM(World(), runtime=runtime)
        return agent.decide(agent.observe()), backend.calls, agent.last_record

    action, calls, record = run()
    assert (action, calls, record.parse_failures, record.cache_hit) == ("move", 2, 1, False)
    # "hmm" is not kept; "move" answers both the retry and, for a replay, the first question
    assert len(cache) == 2
    assert "hmm" not in {cache.get(key).raw for key in cache._data}
    action, calls, record = run()
    assert (action, calls, record.parse_failures, record.cache_hit) == ("move", 0, 0, True)
    assert record.attempts == 1


def test_unparseable_answers_are_not_cached_so_an_outage_is_not_replayed():
    """The reviewer's flaky backend: the first three answers to each prompt are garbage."""
    seen: dict[str, int] = {}

    def flaky(messages):
        question = messages[:2]  # system and user: a retry appends the answer and a correction
        prompt = str(question[1].content)
        seen[prompt] = seen.get(prompt, 0) + 1
        return "???" if seen[prompt] <= 3 else crowd_rule(question)

    cache = InMemoryCache()
    backend = FunctionChatModel(fn=flaky, model_name="flaky")
    for _ in range(2):
        runtime = LLMRuntime(backend, cache=cache, retries=0)
        agent = LLM(World(), crowd=3, runtime=runtime)
        agent.decide(agent.observe())
        assert agent.last_record.fallback
    assert len(cache) == 0
    runtime = LLMRuntime(backend, cache=cache, retries=1)  # answers come back: used, then cached
    agent = LLM(World(), crowd=3, runtime=runtime)
    assert agent.decide(agent.observe()) == "move"
    assert not agent.last_record.fallback
    assert len(cache) == 2


def test_failed_calls_are_not_cached():
    cache = InMemoryCache()
    backend = FunctionChatModel(fn=lambda _m: 1 / 0, model_name="broken")
    runtime = LLMRuntime(backend, cache=cache, retries=1)
    agent = LLM(World(), runtime=runtime)
    assert agent.decide(agent.observe()) == "stay"
    assert agent.last_record.fallback
    assert len(cache) == 0


# --------------------------------------------------------------------------- secrets


@pytest.fixture
def openai_model():
    return ChatOpenAI(
        model="gpt-4o-mini",
        api_key=SECRET,
        temperature=0,
        base_url="http://127.0.0.1:9",
        max_retries=0,
        timeout=2,
    )


def test_backend_identity_and_name_contain_no_secret(openai_model):
    identity = backend_identity(openai_model)
    assert SECRET not in identity
    assert "SECRET123" not in identity
    assert "gpt-4o-mini" in identity
    assert backend_name(openai_model) == "gpt-4o-mini"
    assert SECRET not in cache_key(identity, MESSAGES, "text")


def test_identity_differs_with_the_model_but_not_the_key():
    def model(name, key):
        return ChatOpenAI(model=name, api_key=key, temperature=0, base_url="http://127.0.0.1:9")

    assert backend_identity(model("gpt-4o-mini", "sk-a")) == backend_identity(model("gpt-4o-mini", "sk-b"))
    assert backend_identity(model("gpt-4o-mini", "sk-a")) != backend_identity(model("gpt-4o", "sk-a"))


def test_failing_real_backend_falls_back_and_leaves_no_secret_on_disk(tmp_path, openai_model):
    cache = SQLiteCache(tmp_path / "cache.sqlite")
    log = CallLog(path=tmp_path / "records.jsonl")
    runtime = LLMRuntime(openai_model, cache=cache, log=log, retries=1, timeout=5)
    agent = LLM(World(), crowd=4, runtime=runtime)
    try:
        assert agent.decide(agent.observe()) == "stay"
    finally:
        cache.close()
    record = agent.last_record
    assert record.fallback
    assert (record.attempts, record.backend_calls, record.errors) == (2, 2, 2)
    assert "Connection" in record.error
    assert record.backend == "gpt-4o-mini"
    assert log.totals.errors == 2
    assert log.totals.fallbacks == 1
    assert SECRET not in repr(record)
    assert SECRET not in str(record.to_dict())
    text = (tmp_path / "records.jsonl").read_text(encoding="utf-8")
    assert '"fallback": true' in text
    assert SECRET not in text
    log.write(tmp_path / "parquet")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    with closing(sqlite3.connect(tmp_path / "cache.sqlite")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 0


# --------------------------------------------------------------------------- the file's schema


def test_a_new_cache_file_records_its_schema_version(tmp_path):
    SQLiteCache(tmp_path / "c.sqlite").close()
    with closing(sqlite3.connect(tmp_path / "c.sqlite")) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 1


def test_a_cache_file_of_this_schema_without_a_version_is_accepted_and_stamped(tmp_path):
    path = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(path)) as conn, conn:  # as written before the version was recorded
        conn.execute(
            "CREATE TABLE answers (key TEXT PRIMARY KEY, raw TEXT NOT NULL, "
            "tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL)"
        )
        conn.execute("INSERT INTO answers VALUES ('k', 'stay', 3, 1)")
    cache = SQLiteCache(path)
    try:
        assert cache.get("k") == CachedAnswer("stay", 3, 1)
    finally:
        cache.close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


def _answers_table_with_other_columns(conn):
    conn.execute("CREATE TABLE answers (id INTEGER, question TEXT)")


def _another_version(conn):
    conn.execute(
        "CREATE TABLE answers (key TEXT PRIMARY KEY, raw TEXT NOT NULL, "
        "tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL)"
    )
    conn.execute("PRAGMA user_version = 7")


def _another_programs_tables(conn):
    conn.execute("CREATE TABLE users (name TEXT)")


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (_answers_table_with_other_columns, r"answers table has the columns \(id INTEGER, question TEXT\)"),
        (_another_version, "its schema version is 7, this version of mesa_llm reads 1"),
        (_another_programs_tables, r"another program's database \(tables: users\)"),
    ],
    ids=["other-columns", "other-version", "other-tables"],
)
def test_a_sqlite_file_of_another_schema_is_refused_and_left_alone(tmp_path, make, problem):
    path = tmp_path / "other.sqlite"
    with closing(sqlite3.connect(path)) as conn, conn:
        make(conn)
    before = path.read_bytes()
    with pytest.raises(CacheError, match=problem) as info:
        SQLiteCache(path)
    message = str(info.value)
    assert str(path) in message
    assert message.endswith("delete it or choose another --cache file.")
    assert path.read_bytes() == before
    assert isinstance(info.value, ValueError)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just some notes\n" * 10)
    with pytest.raises(CacheError, match="is not a mesa_llm response cache: it is not a SQLite database"):
        SQLiteCache(path)
    assert path.read_text().startswith("not a database")


def test_a_folder_as_cache_file_is_refused(tmp_path):
    with pytest.raises(CacheError, match="cannot be opened"):
        SQLiteCache(tmp_path)


@pytest.mark.parametrize("path", [None, 42, b"cache.sqlite", "", "  ", InMemoryCache()])
def test_a_cache_path_that_is_not_a_path_is_refused(path):
    with pytest.raises(TypeError, match=r"path must be the path of a cache file, such as 'cache\.sqlite'"):
        SQLiteCache(path)
