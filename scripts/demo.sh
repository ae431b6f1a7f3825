#!/usr/bin/env bash
# Set up with the embedded local model (scripts/setup.sh local) and run a mixed Schelling
# model with it: half rule residents, half asking SmolLM2-135M on the CPU. Extra
# arguments go to `mesa-llm run schelling` (e.g. --steps 10, --backend openai:gpt-4o-mini).
# The run goes to runs/demo, or to runs/demo-2, runs/demo-3, ... where earlier demos ran.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh local
out=runs/demo
n=1
while [ -e "$out" ]; do
    n=$((n + 1))
    out="runs/demo-$n"
done
.venv/bin/mesa-llm run schelling --llm-share 0.5 --steps 30 --seed 1 --out "$out" "$@"
