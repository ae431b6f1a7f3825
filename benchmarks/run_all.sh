#!/usr/bin/env bash
# Run every benchmark from the repository root; results go to benchmarks/results/*.json.
# Takes about 2-3 minutes on 2 cores. Use another interpreter with PYTHON=...
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
for name in schelling_rule_vs_mesa llm_overhead concurrency dedup_calls; do
    echo "== ${name}"
    "${PYTHON}" "benchmarks/${name}.py"
    echo
done
