"""The scenarios' import name: ``mesa_llm_models``; ``models`` only from a checkout, deprecated."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def python(*args, cwd):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_installed_package_is_not_a_bare_models_package(tmp_path):
    """A user's own ``models`` package is never shadowed: nothing named ``models`` is installed."""
    found = python("-c", "import importlib.util as u; print(u.find_spec('models'))", cwd=tmp_path)
    assert found.stdout.strip() == "None", found.stderr
    imported = python("-c", "import mesa_llm_models.schelling as s; print(s.SCENARIO.app)", cwd=tmp_path)
    assert imported.stdout.strip() == "mesa_llm_models.schelling.app", imported.stderr


def test_the_old_name_still_works_in_a_checkout_with_a_deprecation_warning():
    code = (
        "from models.schelling import SchellingModel\n"
        "from models.cooperation.agents import LLMPlayer\n"
        "import mesa_llm_models.schelling as s, mesa_llm_models.cooperation.agents as a\n"
        "assert SchellingModel is s.SchellingModel and LLMPlayer is a.LLMPlayer\n"
        "assert s.__spec__.name == 'mesa_llm_models.schelling'\n"
        "print(SchellingModel(width=5, height=5, rng=1).happy)\n"
    )
    result = python("-W", "always::DeprecationWarning", "-c", code, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().isdigit()
    assert result.stderr.count("DeprecationWarning") == 1
    assert "import mesa_llm_models.schelling instead of models.schelling" in result.stderr


def test_the_old_name_runs_the_comparison_demo():
    result = python("-m", "models.schelling", "--steps", "1", "--size", "5", "--backend", "none", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "Schelling, 5x5, 1 steps, seed 42" in result.stdout
