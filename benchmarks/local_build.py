"""Two builds of llama.cpp side by side: the embedded models' throughput, and whether scores keep their bits.

The installed llama-cpp-python (``setup.sh``'s generic build, ``-DGGML_NATIVE=OFF``)
against another build of the same version installed into a folder (``--other``), which
goes first on ``PYTHONPATH`` in its processes. For each embedded model, in fresh
interpreters, the two builds alternating (``ROUNDS`` each), the distinct prompts of 3 steps of an
all-LLM 20x20 Schelling model are scored by ``score_options_many`` with the defaults
(lanes), each step's contexts primed with the prefix its prompts share (as in
``local_batch.py``). Reported: decisions per second of each build (median over its
rounds), the ratio other / installed, the builds' ``llama_print_system_info()``, and
whether every option probability of the other build is the installed build's, bit for bit.

    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON \\
        -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON" \\
        pip wheel --no-cache-dir --no-deps llama-cpp-python==0.3.36 -w WHEELS
    pip install --no-deps --target OTHER WHEELS/llama_cpp_python-0.3.36-*.whl
    python benchmarks/local_build.py --other OTHER --label avx512

Results: benchmarks/results/local_build-LABEL.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

from _common import print_table, write_results

MODELS = ("smollm2", "gemma3")
ROUNDS = 3


def score(name: str) -> dict:
    """In this process: the scores and the throughput of ``name``'s lanes on every step's prompts."""
    import llama_cpp
    from local_batch import batched, shared_prefix, step_prompts
    from local_model import prime_caches

    from mesa_llm.backends.local import LocalChatModel

    model = LocalChatModel(model=name)
    steps = step_prompts()
    decisions, wall, scores = 0, 0.0, []
    for prompts in steps:
        prime_caches(model.engine, shared_prefix(model, prompts))
        started = time.perf_counter()
        answers = batched(model, prompts)
        wall += time.perf_counter() - started
        decisions += len(prompts)
        scores.append([answer.probabilities for answer in answers])
    return {
        "decisions_per_s": decisions / wall,
        "decisions": decisions,
        "scores": scores,
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
    }


def run(name: str, other: str | None) -> dict:
    """:func:`score` in a fresh interpreter, with ``other`` first on its ``PYTHONPATH`` if given."""
    env = dict(os.environ)
    if other is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [other, env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, __file__, "--score", name],
        env=env,
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", help="the folder another build of llama-cpp-python is installed into")
    parser.add_argument("--label", default="other", help="the other build's name in the results")
    parser.add_argument("--score", help=argparse.SUPPRESS)  # one measurement, in a subprocess
    args = parser.parse_args()
    if args.score:
        print(json.dumps(score(args.score)))
        return
    if not args.other:
        parser.error("--other is required: the folder of the build to compare with the installed one")
    rows, builds = [], {}
    for name in MODELS:
        results: dict[str, list[dict]] = {"installed": [], args.label: []}
        for round_ in range(ROUNDS):
            order = ["installed", args.label] if round_ % 2 == 0 else [args.label, "installed"]
            for build in order:
                results[build].append(run(name, args.other if build == args.label else None))
                pace = results[build][-1]["decisions_per_s"]
                print(name, round_, build, f"{pace:.2f} decisions/s", flush=True)
        installed, other = (median(r["decisions_per_s"] for r in results[b]) for b in results)
        reference = results["installed"][0]["scores"]
        rows.append(
            {
                "model": name,
                "installed_decisions_per_s": installed,
                f"{args.label}_decisions_per_s": other,
                "ratio": other / installed,
                "rounds": ROUNDS,
                "decisions_per_round": results["installed"][0]["decisions"],
                "same_bits": all(r["scores"] == reference for rs in results.values() for r in rs),
                "first_scores": {b: results[b][0]["scores"][0][0] for b in results},
            }
        )
        builds = {b: results[b][0]["system_info"] for b in results}
    columns = ["model", "installed_decisions_per_s", f"{args.label}_decisions_per_s", "ratio", "same_bits"]
    print_table(rows, columns)
    write_results(
        f"local_build-{args.label}", {"label": args.label, "load": os.getloadavg()}, rows, system_info=builds
    )


if __name__ == "__main__":
    main()
