#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the Schelling demo; extra arguments go to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/python -m models.schelling "$@"
