#!/usr/bin/env bash
# Run every benchmark from the repository root; results go to benchmarks/results/*.json.
# Takes about 55 minutes on 2 idle cores (calibration.py 25, sweeps.py 7, offline_sweep.py 4; local_model.py about 3, fault_soak.py
# about 3, embeddings.py 2, cooperation_vs_pdgrid.py about 2, rate_limit.py and parse_scaling.py 1 each;
# local_model.py is skipped when the embedded model is not installed). Use another interpreter with PYTHON=...
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
for name in schelling_rule_vs_mesa cooperation_vs_pdgrid llm_overhead concurrency dedup_calls local_model \
    dashboard_overhead fault_soak rate_limit parse_scaling rule_shadow sweeps offline_sweep \
    memory_retrieval embeddings calibration; do
    echo "== ${name}"
    "${PYTHON}" "benchmarks/${name}.py"
    echo
done
