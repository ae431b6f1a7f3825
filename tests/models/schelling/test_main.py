"""The comparison demo, ``python -m mesa_llm_models.schelling``, run as a user runs it."""

import subprocess
import sys


def test_comparison_demo_runs_every_population_and_the_local_model():
    result = subprocess.run(
        [sys.executable, "-m", "mesa_llm_models.schelling", "--steps", "3", "--size", "10", "--seed", "2"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    out = result.stdout
    for run in (
        "all rule",
        "50% LLM, rule-following chat model",
        "50% LLM, faulty chat model",
        "50% LLM, local",
    ):
        assert run in out
    assert "Schelling, 10x10, 3 steps, seed 2" in out


def test_comparison_demo_names_the_fix_for_a_bad_backend():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "models.schelling",
            "--steps",
            "1",
            "--size",
            "5",
            "--backend",
            "nosuch:model",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Unknown backend 'nosuch:model'" in result.stderr
    assert "Traceback" not in result.stderr
