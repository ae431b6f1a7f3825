"""The clash with Mesa's own ``mesa-llm`` package: a fake one installed beside this one, in a real process."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import mesa_llm
from mesa_llm.cli.clash import name_clash
from tests.cli.commands import MESA_LLM

# What Mesa's package installs: its own mesa_llm/__init__.py, and its metadata.
THEIR_INIT = '__title__ = "Mesa-LLM"\n__version__ = "0.3.2"\n'
THEIR_METADATA = "Metadata-Version: 2.4\nName: Mesa-LLM\nVersion: 0.3.2\n"


def install_theirs(site: Path) -> None:
    info = site / "mesa_llm-0.3.2.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(THEIR_METADATA)
    (info / "RECORD").write_text("mesa_llm/__init__.py,,\nmesa_llm-0.3.2.dist-info/METADATA,,\n")


def overwrite_ours(site: Path) -> None:
    """This package as pip leaves it after installing theirs on top: their ``__init__.py``, our others."""
    ours = site / "mesa_llm"
    shutil.copytree(Path(mesa_llm.__file__).parent, ours, ignore=shutil.ignore_patterns("__pycache__"))
    (ours / "__init__.py").write_text(THEIR_INIT)


def mesa_llm_models(site: Path) -> subprocess.CompletedProcess:
    """``mesa-llm models`` with ``site`` first on the path (before an editable install's finder, too)."""
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "400"}
    return subprocess.run([MESA_LLM, "models"], env=env, capture_output=True, text=True, timeout=120)


def test_no_clash_here():
    assert name_clash() is None


def test_theirs_installed_beside_ours_is_reported_with_the_fix(tmp_path):
    install_theirs(tmp_path)
    proc = mesa_llm_models(tmp_path)
    assert proc.returncode == 2
    message = " ".join(proc.stderr.split())
    assert f"Mesa-LLM 0.3.2 (installed in {tmp_path})" in message
    assert "Two packages install the import name mesa_llm: mesa-llm-lab (this command" in message
    assert "install each in its own virtual environment" in message
    assert "pip uninstall -y mesa-llm mesa-llm-lab && pip install mesa-llm-lab" in message
    assert "Traceback" not in proc.stderr
    assert "schelling" not in proc.stdout  # nothing else ran


@pytest.mark.parametrize(
    ("theirs_metadata", "culprit"), [(True, "Mesa-LLM 0.3.2"), (False, "another package")]
)
def test_our_package_with_their_init_is_reported(tmp_path, theirs_metadata, culprit):
    overwrite_ours(tmp_path)
    if theirs_metadata:
        install_theirs(tmp_path)
    proc = mesa_llm_models(tmp_path)
    assert proc.returncode == 2, proc.stderr
    message = " ".join(proc.stderr.split())
    assert f"the mesa_llm package imported from {tmp_path / 'mesa_llm' / '__init__.py'}" in message
    assert f"is not mesa-llm-lab's: {culprit}" in message
    assert "replaced it" in message
