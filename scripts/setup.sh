#!/usr/bin/env bash
# Create .venv with Python 3.12 and install the project (editable) with the given extras.
# Usage: bash scripts/setup.sh [EXTRAS]   (default: dev)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"

find_python() {
    local candidate
    for candidate in python3.12 "$(pyenv which python3.12 2>/dev/null || true)" \
        "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do
        if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "Python 3.12 is required (Mesa >= 3.4 needs it); install it, e.g. 'pyenv install 3.12'." >&2
    return 1
}

if ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
    rm -rf .venv
    "$(find_python)" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${extras}]"
