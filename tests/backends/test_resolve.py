"""Resolving backends: chat models pass through, strings go to init_chat_model, errors say the fix."""

import importlib.util
import re

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

from mesa_llm import BackendError, FunctionChatModel, ScriptedChatModel, resolve_backend
from mesa_llm.backends import LOCAL_SETTINGS, backend_identity, backend_name


def test_a_chat_model_passes_through_unchanged():
    model = FunctionChatModel(fn=lambda _m: "stay", model_name="stay")
    assert resolve_backend(model) is model


def test_a_provider_string_builds_the_provider_model(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    model = resolve_backend("openai:gpt-4o-mini", temperature=0, base_url="http://127.0.0.1:9")
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == "gpt-4o-mini"
    assert model.temperature == 0


def test_unknown_provider_names_the_provider_model_form():
    with pytest.raises(BackendError, match="'provider:model'"):
        resolve_backend("nonexistent_provider:foo")


def test_backend_error_is_a_value_error():
    assert issubclass(BackendError, ValueError)


@pytest.mark.parametrize(
    ("backend", "module", "package"),
    [
        ("groq:llama3-8b", "langchain_groq", "langchain-groq"),
        ("mistralai:mistral-small", "langchain_mistralai", "langchain-mistralai"),
    ],
)
def test_missing_provider_package_names_the_package(backend, module, package):
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here")
    with pytest.raises(BackendError, match=package) as info:
        resolve_backend(backend)
    assert "provider package" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)


def test_missing_api_key_names_the_environment_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(BackendError, match="OPENAI_API_KEY") as info:
        resolve_backend("openai:gpt-4o-mini")
    assert "openai:gpt-4o-mini" in str(info.value)


@pytest.mark.parametrize("backend", [42, None, b"openai:gpt-4o-mini", ["openai:gpt-4o-mini"], object()])
def test_non_string_non_model_is_a_backend_error_naming_the_forms(backend):
    with pytest.raises(BackendError, match="backend must be a LangChain BaseChatModel or a string") as info:
        resolve_backend(backend)
    assert "'local' (the embedded model) or 'provider:model', such as 'openai:gpt-4o-mini'" in str(info.value)
    assert type(backend).__name__ in str(info.value)


@pytest.mark.parametrize("backend", ["", "   ", "openai:", "local:"])
def test_a_string_naming_no_model_is_a_backend_error_naming_the_forms(monkeypatch, backend):
    """``init_chat_model("")`` would give a configurable stand-in, which is no chat model."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    with pytest.raises(BackendError, match=f"The backend {backend!r} names no model") as info:
        resolve_backend(backend)
    assert "Name it as 'local' (the embedded model) or 'provider:model'" in str(info.value)


def test_backend_name_prefers_the_model_name():
    assert backend_name(FunctionChatModel(fn=lambda _m: "x", model_name="rule-0.4")) == "rule-0.4"
    assert backend_name(ScriptedChatModel(responses=["a"])) == "scripted"


def test_backend_name_falls_back_to_the_class_name():
    class Nameless(BaseChatModel):
        @property
        def _llm_type(self):
            return "nameless"

        def _generate(self, messages, stop=None, run_manager=None, **kwargs):
            raise NotImplementedError

    assert backend_name(Nameless()) == "Nameless"


def test_backend_identity_names_the_class_and_settings():
    model = FunctionChatModel(fn=lambda _m: "x", model_name="rule", temperature=0.3)
    identity = backend_identity(model)
    assert identity.startswith("mesa_llm.backends.testing.FunctionChatModel|")
    assert "rule" in identity
    assert "0.3" in identity


def test_a_backend_from_a_string_leaves_retrying_to_the_runtime(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    assert resolve_backend("openai:gpt-4o-mini").max_retries == 0
    assert resolve_backend("openai:gpt-4o-mini", max_retries=5).max_retries == 5  # asked for: kept


@pytest.mark.parametrize(
    ("backend", "kwargs", "message"),
    [
        ("local,threads=1", {}, "'threads=1' in the backend 'local,threads=1' is not a setting of the local"),
        ("local,n_threads", {}, "write them as 'local,name=value', such as 'local,n_threads=1'; the names"),
        ("local,n_threads=0", {}, "n_threads='0': Input should be greater than or equal to 1"),
        ("local:/x.gguf,n_threads=two", {}, "n_threads='two': Input should be a valid integer"),
        ("local,seed=1,seed=2", {}, "The local model's seed is set twice in 'local,seed=1,seed=2'"),
        ("local,temperature=0.5", {"temperature": 0.2}, "set both in the backend 'local,temperature=0.5'"),
        ("local", {"temperature": -1}, "Bad setting of the local model 'local': temperature=-1"),
    ],
)
def test_bad_settings_of_the_local_model_are_backend_errors_naming_the_fix(backend, kwargs, message):
    with pytest.raises(BackendError, match=re.escape(message)):
        resolve_backend(backend, **kwargs)


def test_the_settings_a_backend_string_gives_the_local_model_are_its_fields():
    from mesa_llm.backends.local import LocalChatModel

    assert set(LOCAL_SETTINGS) <= set(LocalChatModel.model_fields) - {"model_path", "chat_template"}
